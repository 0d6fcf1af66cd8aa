"""Loading real layouts: the official diffusers folder, single files in Wan / ComfyUI naming, dtypes, bad files."""

from __future__ import annotations

import json
import math

import pytest
import torch
from diffusers import WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from helpers import tiny_inputs
from safetensors.torch import load_file, save_file

from realisdance.checkpoints import (
    COMFYUI_PREFIX,
    diffusers_to_wan,
    load_transformer,
    save_diffusers_folder,
    save_single_file,
    wan_to_diffusers,
)
from realisdance.errors import CheckpointError
from realisdance.model import build_transformer, named_config


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def model(tiny_model):
    return tiny_model("I2V")


def test_every_layout_loads_into_the_identical_model(model, tmp_path):
    layouts = {
        "sharded diffusers folder (ours)": save_diffusers_folder(model, tmp_path / "ours", max_shard_bytes=300_000),
        "single-file diffusers folder": save_diffusers_folder(model, tmp_path / "single"),
        "wan single file": save_single_file(model, tmp_path / "wan.safetensors", naming="wan"),
        "comfyui single file": save_single_file(model, tmp_path / "comfy.safetensors", naming="comfyui"),
        "diffusers single file": save_single_file(model, tmp_path / "diff.safetensors", naming="diffusers"),
    }
    # diffusers' own writer, so the folder layout is not only checked against our own saver.
    model.save_pretrained(tmp_path / "by_diffusers", max_shard_size="300KB", safe_serialization=True)
    layouts["sharded folder written by diffusers"] = tmp_path / "by_diffusers"
    assert len(list((tmp_path / "by_diffusers").glob("*.safetensors"))) > 1
    assert len(list((tmp_path / "ours").glob("*.safetensors"))) > 1
    for name, path in layouts.items():
        loaded = load_transformer(path, dtype="fp32")
        assert same_weights(model, loaded), name
        assert dict(loaded.config)["add_cond_in_dim"] == 32
    release = tmp_path / "release"
    save_diffusers_folder(model, release / "transformer", max_shard_bytes=300_000)
    assert same_weights(model, load_transformer(release, dtype="fp32"))  # the whole release folder also works
    assert same_weights(
        model, load_transformer(release / "transformer" / "diffusion_pytorch_model.safetensors.index.json")
    )


def test_comfyui_file_keys_are_original_wan_names_under_the_prefix(model, tmp_path):
    keys = load_file(save_single_file(model, tmp_path / "c.safetensors", naming="comfyui")).keys()
    assert all(k.startswith(COMFYUI_PREFIX) for k in keys)
    for expected in (
        "head.head.weight",
        "blocks.0.self_attn.q.weight",
        "blocks.0.cross_attn.k_img.weight",
        "blocks.0.norm3.weight",
        "img_emb.proj.1.weight",
        "add_conv_in.weight",
        "attn_conv_in.bias",
    ):
        assert COMFYUI_PREFIX + expected in keys


def test_key_map_agrees_with_diffusers_own_wan_converter(model):
    diffusers_names = list(model.state_dict())
    wan_names = [diffusers_to_wan(n) for n in diffusers_names]
    converted = convert_wan_transformer_to_diffusers({COMFYUI_PREFIX + n: torch.zeros(1) for n in wan_names})
    assert sorted(converted) == sorted(diffusers_names)
    assert [wan_to_diffusers(n) for n in wan_names] == diffusers_names


def test_stray_norm_added_q_keys_of_the_release_are_ignored(model, tmp_path):
    folder = save_diffusers_folder(model, tmp_path / "t")
    weights = load_file(folder / "diffusion_pytorch_model.safetensors")
    weights["blocks.0.attn2.norm_added_q.weight"] = torch.ones(256)
    save_file(weights, folder / "diffusion_pytorch_model.safetensors")
    assert same_weights(model, load_transformer(folder, dtype="fp32"))


def test_config_json_flags_are_honoured_and_missing_flags_mean_release_behaviour(model, tmp_path):
    folder = save_diffusers_folder(model, tmp_path / "t")
    config = json.loads((folder / "config.json").read_text())
    for key in ("shift_f", "shift_h", "shift_w"):
        config.pop(key)
    (folder / "config.json").write_text(json.dumps(config))
    loaded = load_transformer(folder)
    assert (loaded.rope.shift.frame, loaded.rope.shift.height, loaded.rope.shift.width) == (False, True, True)
    config["shift_f"] = True
    (folder / "config.json").write_text(json.dumps(config))
    assert load_transformer(folder).rope.shift.frame is True


@pytest.mark.parametrize(
    "dtype, weight_dtype",
    [
        ("bf16", torch.bfloat16),
        ("fp16", torch.float16),
        ("fp8_e4m3fn", torch.float8_e4m3fn),
        ("fp8_e5m2", torch.float8_e5m2),
    ],
)
def test_dtypes_keep_release_fp32_modules_and_run(model, tmp_path, dtype, weight_dtype):
    loaded = load_transformer(save_single_file(model, tmp_path / "m.safetensors"), dtype=dtype)
    params = dict(loaded.named_parameters())
    assert params["blocks.0.attn1.to_q.weight"].dtype == weight_dtype
    assert params["blocks.0.scale_shift_table"].dtype == torch.float32
    assert params["blocks.0.norm2.weight"].dtype == torch.float32
    assert params["condition_embedder.time_embedder.linear_1.weight"].dtype == torch.float32
    inputs = tiny_inputs(model)
    with torch.no_grad():
        expected = model(**inputs).sample
        out = loaded(**inputs).sample.float()
    assert torch.isfinite(out).all()
    relative = (out - expected).abs().max() / expected.abs().max()
    assert relative < (0.05 if "fp8" in dtype else 0.02)


def test_fp8_stored_file_loads_as_fp8_by_default_and_scaled_fp8_is_dequantised(model, tmp_path):
    path = save_single_file(model, tmp_path / "fp8.safetensors", naming="comfyui", dtype=torch.float8_e4m3fn)
    loaded = load_transformer(path)  # 'auto': keep the file's fp8 storage, compute in bf16
    assert loaded.blocks[0].ffn.net[2].weight.dtype == torch.float8_e4m3fn
    with torch.no_grad():
        assert torch.isfinite(loaded(**tiny_inputs(model)).sample).all()

    weights = load_file(save_single_file(model, tmp_path / "s.safetensors", naming="comfyui"))
    name = COMFYUI_PREFIX + "blocks.0.ffn.0.weight"
    original = weights[name].clone()
    weights[name] = (original / 0.01).to(torch.float8_e4m3fn)
    weights[name.replace(".weight", ".scale_weight")] = torch.tensor([0.01])
    weights["scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    save_file(weights, tmp_path / "scaled.safetensors")
    scaled = load_transformer(tmp_path / "scaled.safetensors", dtype="fp32")
    torch.testing.assert_close(scaled.blocks[0].ffn.net[0].proj.weight, original, rtol=0.07, atol=1e-3)


# ---- bad input: each gets a CheckpointError naming the file and what to do ----


def test_plain_wan_checkpoint_is_refused(tmp_path):
    known = set(WanTransformer3DModel._get_init_keys(WanTransformer3DModel)) - {"self"}
    wan = WanTransformer3DModel(**{k: v for k, v in named_config("tiny-I2V").items() if k in known})
    wan.save_pretrained(tmp_path / "wan")
    with pytest.raises(CheckpointError, match="plain Wan 2.1 DiT without the RealisDance modules"):
        load_transformer(tmp_path / "wan")


def test_wrong_shapes_are_refused(model, tmp_path):
    folder = save_diffusers_folder(model, tmp_path / "t")
    config = json.loads((folder / "config.json").read_text())
    config["ffn_dim"] = 128
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"'blocks.0.ffn.net.0.proj.weight' has shape \(64, 256\)"):
        load_transformer(folder)


def test_missing_shard_is_named(model, tmp_path):
    folder = save_diffusers_folder(model, tmp_path / "t", max_shard_bytes=300_000)
    victim = sorted(folder.glob("*-of-*.safetensors"))[1]
    victim.unlink()
    with pytest.raises(CheckpointError, match=f"missing: {victim.name}"):
        load_transformer(folder)


def test_truncated_file_is_reported(model, tmp_path):
    path = save_single_file(model, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_transformer(path)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError, match="header is corrupt"):
        load_transformer(path)


def test_missing_tensors_are_reported(model, tmp_path):
    weights = load_file(save_single_file(model, tmp_path / "m.safetensors", naming="diffusers"))
    del weights["blocks.1.attn1.to_q.weight"]
    save_file(weights, tmp_path / "incomplete.safetensors", metadata={})
    with pytest.raises(CheckpointError, match="missing .*blocks.1.attn1.to_q.weight"):
        load_transformer(tmp_path / "incomplete.safetensors")


@pytest.mark.parametrize(
    "name, message",
    [
        ("m.gguf", "GGUF"),
        ("m.ckpt", "pickle"),
        ("m.onnx", "unknown checkpoint"),
        ("absent.safetensors", "not found|no such file"),
    ],
)
def test_unknown_or_missing_files(tmp_path, name, message):
    if not name.startswith("absent"):
        (tmp_path / name).write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match=message):
        load_transformer(tmp_path / name)


def test_a_file_of_another_model_is_refused(tmp_path):
    save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "vae.safetensors")
    with pytest.raises(CheckpointError, match="not a Wan 2.1 DiT"):
        load_transformer(tmp_path / "vae.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="expected a RealisDance-DiT transformer folder"):
        load_transformer(tmp_path / "empty")


# ---- the real 14B architecture, on the meta device ----


def test_14b_i2v_has_exactly_the_released_names_and_shapes():
    config = named_config("14B-I2V")
    with torch.device("meta"):
        ours = build_transformer(config, device="meta")
        known = set(WanTransformer3DModel._get_init_keys(WanTransformer3DModel)) - {"self"}
        wan = WanTransformer3DModel(**{k: v for k, v in config.items() if k in known})
    ours_shapes = {n: tuple(p.shape) for n, p in ours.named_parameters()}
    wan_shapes = {n: tuple(p.shape) for n, p in wan.named_parameters()}
    new = {n: s for n, s in ours_shapes.items() if n not in wan_shapes}
    assert {n: s for n, s in ours_shapes.items() if n in wan_shapes} == wan_shapes
    assert new == {
        "add_conv_in.weight": (5120, 32, 1, 2, 2),
        "add_conv_in.bias": (5120,),
        "add_proj.weight": (5120, 5120),
        "add_proj.bias": (5120,),
        "attn_conv_in.weight": (5120, 16, 1, 2, 2),
        "attn_conv_in.bias": (5120,),
    }
    assert wan_shapes["patch_embedding.weight"] == (5120, 36, 1, 2, 2)
    new_params = sum(math.prod(s) for s in new.values())
    base_params = sum(math.prod(s) for s in wan_shapes.values())
    assert 27.0e6 < new_params < 27.4e6
    assert 16.3e9 < base_params < 16.5e9
