"""Our transformer against diffusers' own WanTransformer3DModel on the same weights (the independent reference)."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel
from helpers import tiny_inputs


def diffusers_twin(model) -> WanTransformer3DModel:
    """diffusers' Wan 2.1 DiT with the same config and the shared weights (the RealisDance modules left out)."""
    known = set(WanTransformer3DModel._get_init_keys(WanTransformer3DModel)) - {"self"}
    twin = WanTransformer3DModel(**{k: v for k, v in dict(model.config).items() if k in known}).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(model.realisdance_modules)}
    twin.load_state_dict(state, strict=True)
    return twin


@pytest.mark.parametrize("variant", ["T2V", "I2V"])
@pytest.mark.parametrize("batch", [1, 2])
def test_matches_diffusers_wan_without_reference_and_with_zero_pose_gate(tiny_model, variant, batch):
    model = tiny_model(variant)
    torch.nn.init.zeros_(model.add_proj.weight)
    torch.nn.init.zeros_(model.add_proj.bias)
    inputs = tiny_inputs(model, batch=batch, reference=None)
    with torch.no_grad():
        ours = model(**inputs).sample
        theirs = diffusers_twin(model)(
            inputs["hidden_states"],
            inputs["timestep"],
            inputs["encoder_hidden_states"],
            inputs["encoder_hidden_states_image"],
        ).sample
    assert ours.shape == theirs.shape == (batch, 16, 3, 8, 12)
    assert (ours - theirs).abs().max().item() <= 1e-5


def test_pose_path_is_inert_while_gate_is_zero_and_acts_once_it_is_not(tiny_model):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model, reference=None)
    other_pose = {**inputs, "add_cond": torch.randn_like(inputs["add_cond"])}
    with torch.no_grad():
        assert not torch.allclose(model(**inputs).sample, model(**other_pose).sample)
        torch.nn.init.zeros_(model.add_proj.weight)
        torch.nn.init.zeros_(model.add_proj.bias)
        torch.testing.assert_close(model(**inputs).sample, model(**other_pose).sample, rtol=0, atol=0)
