"""One model: the native ComfyUI RealisDance-DiT forward equals the core transformer's, without a real host.

``RealisDanceWanModel`` (nodes/native/wan_model.py) runs on the test double's minimal Wan DiT
(tests/comfy_double/wan_dit.py, written from the Wan math with the host's module names); the core
``RealisDanceTransformer`` runs on diffusers' own Wan transformer. Same random weights (every module non-zero), same
inputs: the two forwards must agree within fp32 noise at non-integer timesteps (the release truncates them), with
pose / reference strengths and the pose's sigma range, with the host's block-replace patches, and the host's
after-block patches (Uni3C's contract) must see the model input and change the output. The real host's own Wan is
held to the same core forward by tests/host/test_host_native_model.py.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from helpers import random_transformer

from realisdance.checkpoints.keymap import diffusers_to_wan
from realisdance.model import RELEASE_STRENGTHS, ConditionStrengths, named_config

pytest_plugins = ["comfy_double.fixtures"]

CONFIG = named_config("tiny-I2V")
TOLERANCE = 2e-5


@pytest.fixture
def models(comfy_pack):
    wan_model = importlib.import_module(comfy_pack.module_name + ".nodes.native.wan_model")
    core = random_transformer(CONFIG, seed=11)
    native = wan_model.RealisDanceWanModel(
        add_cond_in_dim=CONFIG["add_cond_in_dim"],
        attn_cond_in_dim=CONFIG["attn_cond_in_dim"],
        model_type="i2v",
        operations=importlib.import_module("comfy.ops").disable_weight_init,
        patch_size=tuple(CONFIG["patch_size"]),
        in_dim=CONFIG["in_channels"],
        dim=CONFIG["num_attention_heads"] * CONFIG["attention_head_dim"],
        ffn_dim=CONFIG["ffn_dim"],
        freq_dim=CONFIG["freq_dim"],
        text_dim=CONFIG["text_dim"],
        out_dim=CONFIG["out_channels"],
        num_heads=CONFIG["num_attention_heads"],
        num_layers=CONFIG["num_layers"],
        cross_attn_norm=True,
        eps=CONFIG["eps"],
        image_dim=CONFIG["image_dim"],
    ).eval()
    state = {diffusers_to_wan(name): tensor for name, tensor in core.state_dict().items()}
    missing, unexpected = native.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return core, native


@pytest.fixture
def inputs():
    generator = torch.Generator().manual_seed(5)
    return {
        "x": torch.randn(1, 36, 3, 4, 6, generator=generator),
        "pose": torch.randn(1, 32, 3, 4, 6, generator=generator),
        "reference": torch.randn(1, 16, 1, 6, 4, generator=generator),  # another shape than the video's grid
        "text": torch.randn(1, 512, CONFIG["text_dim"], generator=generator),
        "clip": torch.randn(1, 257, CONFIG["image_dim"], generator=generator),
    }


def _core(core, inputs, timestep, strengths=RELEASE_STRENGTHS, sigma=None):
    with torch.no_grad():
        return core(
            inputs["x"], torch.tensor([timestep]), inputs["text"], inputs["clip"], add_cond=inputs["pose"],
            attn_cond=inputs["reference"], return_dict=False, strengths=strengths, sigma=sigma,
        )[0]  # fmt: skip


def _native(native, inputs, timestep, options=None, **strengths):
    with torch.no_grad():
        return native(
            inputs["x"], torch.tensor([timestep]), inputs["text"], clip_fea=inputs["clip"],
            transformer_options={} if options is None else options,
            rd_pose=inputs["pose"], rd_reference=inputs["reference"], **strengths,
        )  # fmt: skip


def _error(a, b) -> float:
    return float((a - b).abs().max())


def test_at_a_fractional_timestep_the_native_forward_equals_the_core_at_the_truncated_one(models, inputs):
    core, native = models
    expected = _core(core, inputs, 624.0)
    assert _error(_native(native, inputs, 624.7), expected) <= TOLERANCE
    # The truncation matters at this size: the core at the fractional timestep is measurably elsewhere.
    assert _error(_core(core, inputs, 624.7), expected) > 100 * TOLERANCE


@pytest.mark.parametrize("pose, reference", [(0.5, 0.7), (1.6, 1.0), (1.0, 0.0), (0.0, 1.3)])
def test_strengths_mean_the_same_in_both_forwards(models, inputs, pose, reference):
    core, native = models
    expected = _core(core, inputs, 999.0, ConditionStrengths(pose=pose, reference=reference))
    got = _native(native, inputs, 999.0, rd_pose_strength=pose, rd_reference_strength=reference)
    assert _error(got, expected) <= TOLERANCE
    assert _error(expected, _core(core, inputs, 999.0)) > 100 * TOLERANCE  # each setting really changes the output


@pytest.mark.parametrize("sigma, pose_on", [(0.9, False), (0.5, True), (0.2, False)])
def test_the_pose_applies_only_inside_its_sigma_range_in_both_forwards(models, inputs, sigma, pose_on):
    core, native = models
    strengths = ConditionStrengths(pose_sigmas=(0.8, 0.3))
    expected = _core(core, inputs, 500.0, strengths, sigma=sigma)
    options = {"sigmas": torch.tensor([sigma])}
    got = _native(native, inputs, 500.0, options, rd_pose_sigmas=(0.8, 0.3))
    assert _error(got, expected) <= TOLERANCE
    without_pose = _core(core, inputs, 500.0, ConditionStrengths(pose=0.0))
    assert (_error(expected, without_pose) > 100 * TOLERANCE) == pose_on


def test_a_block_replace_patch_that_calls_the_original_block_changes_nothing(models, inputs):
    core, native = models
    seen = []

    def replace(args, extra):
        seen.append(args["transformer_options"]["block_index"])
        return extra["original_block"](args)

    options = {"patches_replace": {"dit": {("double_block", 1): replace}}}
    assert _error(_native(native, inputs, 800.0, options), _core(core, inputs, 800.0)) <= TOLERANCE
    assert seen == [1]


def test_after_block_patches_see_the_model_input_and_steer_the_video_tokens(models, inputs):
    """The contract ComfyUI's Uni3C camera control uses: after each block, ``patches["double_block"]`` get the
    tokens, the model input ``x``, the timestep embedding ``vec`` and ``img_offset`` (where the video tokens begin),
    and what they return goes on."""
    core, native = models
    calls = []
    video_tokens = 3 * 2 * 3
    dim = CONFIG["num_attention_heads"] * CONFIG["attention_head_dim"]
    # A residual that varies over the channels (a constant one would vanish in the next LayerNorm).
    residual = 0.1 * torch.randn(1, video_tokens, dim, generator=torch.Generator().manual_seed(9))

    def patch(kwargs):
        calls.append((kwargs["block_index"], kwargs["img_offset"], tuple(kwargs["x"].shape), kwargs["vec"].shape[-1]))
        offset = kwargs["img_offset"]
        kwargs["img"][:, offset : offset + video_tokens] += residual
        return kwargs

    options = {"patches": {"double_block": [patch]}}
    got = _native(native, inputs, 800.0, options)
    assert calls == [(0, 0, tuple(inputs["x"].shape), dim), (1, 0, tuple(inputs["x"].shape), dim)]
    assert _error(got, _core(core, inputs, 800.0)) > 100 * TOLERANCE

    def nothing(kwargs):
        return kwargs

    untouched = _native(native, inputs, 800.0, {"patches": {"double_block": [nothing]}})
    assert _error(untouched, _core(core, inputs, 800.0)) <= TOLERANCE


def test_the_double_is_held_to_diffusers_wan_too(models, inputs):
    """Without the RealisDance inputs' effect (pose 0, no reference) the native forward is plain Wan 2.1: the
    double's Wan equals diffusers' Wan on the same weights, so a wrong double cannot pass the tests above."""
    core, native = models
    plain = ConditionStrengths(pose=0.0, reference=0.0)
    expected = _core(core, inputs, 300.0, plain)
    assert _error(_native(native, inputs, 300.0, rd_pose_strength=0.0, rd_reference_strength=0.0), expected) <= (
        TOLERANCE
    )
