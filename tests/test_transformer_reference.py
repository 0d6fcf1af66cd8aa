"""The full forward with pose and reference tokens against the independent spec implementation."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_inputs
from reference_impl import reference_forward

from realisdance.errors import InputError


@pytest.mark.parametrize("variant", ["I2V", "T2V"])
@pytest.mark.parametrize("flags", [(False, True, True), (True, True, True), (False, False, False)])
@pytest.mark.parametrize("reference", [(4, 6), (6, 2)])
def test_forward_with_pose_and_reference_matches_spec_implementation(tiny_model, variant, flags, reference):
    model = tiny_model(variant, shift_f=flags[0], shift_h=flags[1], shift_w=flags[2])
    inputs = tiny_inputs(model, reference=reference)
    with torch.no_grad():
        ours = model(**inputs).sample
        expected = reference_forward(model, **inputs)
    assert ours.shape == inputs["hidden_states"][:, :16].shape  # reference tokens are gone from the output
    assert (ours - expected).abs().max().item() <= 1e-5


def test_reference_tokens_influence_the_video_and_the_flags_matter(tiny_model):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    with torch.no_grad():
        base = model(**inputs).sample
        other_reference = model(**{**inputs, "attn_cond": torch.randn_like(inputs["attn_cond"])}).sample
        model.rope.shift = type(model.rope.shift)(frame=True, height=True, width=True)
        frame_shifted = model(**inputs).sample
    assert not torch.allclose(base, other_reference)
    assert not torch.allclose(base, frame_shifted)


def test_new_model_initialisation_follows_the_paper(tiny_model):
    from realisdance.model import build_transformer, named_config

    model = build_transformer(named_config("tiny-I2V"))
    assert torch.count_nonzero(model.add_proj.weight) == 0 and torch.count_nonzero(model.add_proj.bias) == 0
    torch.testing.assert_close(model.attn_conv_in.weight, model.patch_embedding.weight[:, :16])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda i: {**i, "add_cond": i["add_cond"][:, :16]}, "pose latents must be"),
        (lambda i: {**i, "attn_cond": i["attn_cond"][:, :8]}, "reference latent must be"),
        (lambda i: {**i, "encoder_hidden_states_image": None}, "needs CLIP image embeddings"),
        (lambda i: {**i, "encoder_hidden_states": i["encoder_hidden_states"][:, :77]}, "exactly 512 tokens"),
        (lambda i: {**i, "hidden_states": i["hidden_states"][:, :16]}, "latents of shape"),
        (lambda i: {**i, "hidden_states": i["hidden_states"][..., :7], "add_cond": None}, "not divisible"),
    ],
)
def test_mismatched_inputs_get_a_sentence_not_a_torch_error(tiny_model, change, message):
    model = tiny_model("I2V")
    with pytest.raises(InputError, match=message), torch.no_grad():
        model(**change(tiny_inputs(model)))
