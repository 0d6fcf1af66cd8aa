"""``realisdance convert``: the release folder as the single files ComfyUI loads, each checked by loading it with an
independent reader and comparing with the release's own component on the same weights:
- the DiT files with the pack's checkpoint loader (bf16 exact, fp8 within e4m3's rounding, forward close);
- the umT5 file in transformers' UMT5EncoderModel under the release's config, and through the double's CLIPLoader /
  CLIPTextEncode (the host's tokenizer-from-``spiece_model`` contract) against the release's TextEncoder;
- the CLIP file in transformers' CLIPVisionModel under the release's config;
- the VAE file through diffusers' own original-Wan converter (``load_vae`` of a file) and the double's VAELoader.
The same files on the real hosts: tests/host/test_host_converted_files.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from realisdance.checkpoints import load_transformer
from realisdance.convert import convert_release
from realisdance.convert.transformer_file import FP8_MARKER, quantised_names
from realisdance.convert.vae_names import diffusers_to_wan_vae_name
from realisdance.encoders import load_clip_image_encoder, load_text_encoder, load_vae, normalize_latents
from realisdance.errors import RealisDanceError
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]

PROMPT = "A young woman in a red dress dances on a wooden stage."


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("convert") / "release", variant="native-I2V")


@pytest.fixture(scope="module")
def converted(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("convert_out") / "models"
    return {item.part: item.path for item in convert_release(release, out)}


def test_every_part_lands_in_the_comfyui_folder_its_loader_reads(converted):
    assert {part: (path.parent.name, path.name) for part, path in converted.items()} == {
        "bf16": ("diffusion_models", "RealisDance-DiT_bf16.safetensors"),
        "fp8": ("diffusion_models", "RealisDance-DiT_fp8_e4m3fn_scaled.safetensors"),
        "text_encoder": ("text_encoders", "umt5_xxl_bf16.safetensors"),
        "image_encoder": ("clip_vision", "clip_vision_h.safetensors"),
        "vae": ("vae", "wan_2.1_vae.safetensors"),
    }


def test_bf16_dit_is_the_release_transformer_in_original_wan_names(release, converted):
    with safe_open(str(converted["bf16"]), "pt") as handle:
        names = list(handle.keys())
    assert "blocks.0.self_attn.q.weight" in names and "add_conv_in.weight" in names  # Wan names, RealisDance modules
    ours = load_transformer(converted["bf16"]).state_dict()
    reference = load_transformer(release, dtype="bf16").state_dict()
    assert ours.keys() == reference.keys()
    assert all(torch.equal(ours[name], reference[name]) for name in reference)


def test_fp8_dit_quantises_block_linears_with_per_tensor_scales(release, converted):
    stored = load_file(str(converted["fp8"]))
    assert stored[FP8_MARKER].dtype == torch.float8_e4m3fn and stored[FP8_MARKER].numel() == 0
    reference_model = load_transformer(release, dtype="bf16")
    reference = reference_model.state_dict()
    quantised = quantised_names(reference_model)
    assert quantised and all(name.startswith("blocks.") for name in quantised)
    assert stored["blocks.0.self_attn.q.weight"].dtype == torch.float8_e4m3fn
    assert stored["blocks.0.self_attn.q.scale_weight"].dtype == torch.float32
    assert stored["blocks.0.norm3.weight"].dtype == torch.bfloat16  # norms, biases, embeddings stay bf16
    loaded = load_transformer(converted["fp8"], dtype="bf16").state_dict()
    for name, weight in reference.items():
        if name in quantised:
            error = (loaded[name].float() - weight.float()).abs()
            # e4m3 keeps 3 mantissa bits: a rounding error of at most 1/16 of the value, or of the smallest step
            assert (error <= weight.float().abs() / 16 + weight.float().abs().amax() / 448 / 8 + 1e-6).all(), name
        else:
            assert torch.equal(loaded[name], weight), name


def test_text_encoder_file_is_the_release_umt5_with_its_tokenizer(release, converted):
    from transformers import UMT5Config, UMT5EncoderModel

    stored = load_file(str(converted["text_encoder"]))
    assert bytes(stored.pop("spiece_model").numpy()) == (release / "tokenizer" / "spiece.model").read_bytes()
    assert "encoder.embed_tokens.weight" not in stored  # tied: ComfyUI's T5 reads shared.weight
    config = json.loads((release / "text_encoder" / "config.json").read_text())
    model = UMT5EncoderModel(UMT5Config(**config)).eval()
    missing, unexpected = model.load_state_dict(stored, strict=False)
    assert missing == ["encoder.embed_tokens.weight"] and unexpected == []
    release_encoder = load_text_encoder(release, dtype=torch.float32)
    ids, mask = release_encoder.tokenize(PROMPT)
    model.float()
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=mask).last_hidden_state
        theirs = release_encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_image_encoder_file_is_the_release_clip(release, converted):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    stored = load_file(str(converted["image_encoder"]))
    assert all(name.startswith("vision_model.") for name in stored)
    config = json.loads((release / "image_encoder" / "config.json").read_text())
    model = CLIPVisionModel(CLIPVisionConfig(**config))
    prefixed = next(iter(model.state_dict())).startswith("vision_model.")  # transformers 5 drops the prefix
    model.load_state_dict(stored if prefixed else {k.removeprefix("vision_model."): v for k, v in stored.items()})
    reference = load_clip_image_encoder(release).model.state_dict()
    assert all(torch.equal(model.state_dict()[name].float(), reference[name].float()) for name in reference)


def test_vae_file_round_trips_through_diffusers_own_converter(release, converted):
    stored = load_file(str(converted["vae"]))
    assert "decoder.head.0.gamma" in stored and "decoder.upsamples.4.shortcut.weight" in stored  # original-Wan names
    ours, theirs = load_vae(converted["vae"]), load_vae(release)
    latents = torch.randn(1, 16, 2, 4, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours.decode(latents), theirs.decode(latents), rtol=0, atol=0)


def test_vae_names_invert_diffusers_converter_for_the_full_size_vae():
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    with torch.device("meta"):
        names = list(AutoencoderKLWan().state_dict())  # the released Wan 2.1 VAE's structure
    original = {diffusers_to_wan_vae_name(name): name for name in names}
    assert len(original) == len(names)
    assert set(convert_wan_vae_to_diffusers(dict(original))) == set(names)
    assert convert_wan_vae_to_diffusers(dict(original)) == {value: value for value in names}


def test_double_host_loaders_read_the_converted_files_as_the_release_encoders_do(comfy, release, converted):
    """CLIPLoader (wan) + CLIPTextEncode == the release's TextEncoder; VAELoader + VAEDecode == the release's VAE."""
    for part, folder in (("text_encoder", "text_encoders"), ("vae", "vae"), ("image_encoder", "clip_vision")):
        (comfy.model_dir(folder) / converted[part].name).symlink_to(converted[part])
    prompt = {
        "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": converted["text_encoder"].name, "type": "wan"}},
        "text": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": PROMPT}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": converted["vae"].name}},
        "vision": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": converted["image_encoder"].name}},
    }
    result = comfy.run(prompt, targets=["text", "vae", "vision"]).raise_error()
    ((conditioning, options),) = result.outputs["text"][0]
    expected = load_text_encoder(release, dtype=torch.float32).encode(PROMPT)
    assert conditioning.shape == expected.shape == (1, 512, 4096) and options == {"pooled_output": None}
    torch.testing.assert_close(conditioning, expected.float(), rtol=1e-5, atol=1e-5)

    raw = torch.randn(1, 16, 2, 4, 6, generator=torch.Generator().manual_seed(1))
    (images,) = comfy.nodes.NODE_CLASS_MAPPINGS["VAEDecode"].execute({"samples": raw}, result.outputs["vae"][0]).result
    release_vae = load_vae(release)
    expected_frames = release_vae.decode(normalize_latents(raw))  # the core VAE takes normalised latents
    assert images.shape == (5, 32, 48, 3)
    torch.testing.assert_close(images, expected_frames[0].permute(1, 2, 3, 0), rtol=0, atol=1e-5)

    # A 224 x 224 8-bit image needs no resize: the host's CLIP preprocessing and the release's then agree exactly.
    pixels = torch.randint(0, 256, (1, 224, 224, 3), generator=torch.Generator().manual_seed(2)).float() / 255
    hidden = result.outputs["vision"][0].encode_image(pixels, crop=False).penultimate_hidden_states
    expected_hidden = load_clip_image_encoder(release).encode(pixels.permute(0, 3, 1, 2) * 2 - 1)
    torch.testing.assert_close(hidden, expected_hidden, rtol=1e-4, atol=1e-4)


def test_refusals_come_before_anything_is_written(release, tmp_path):
    with pytest.raises(RealisDanceError, match="unknown part"):
        convert_release(release, tmp_path, ["dit"])
    with pytest.raises(RealisDanceError, match="has no image_encoder/ folder"):
        partial = tmp_path / "partial"
        partial.mkdir()
        for name in ("transformer", "vae"):
            (partial / name).symlink_to(release / name)
        convert_release(partial, tmp_path / "out", ["vae", "image_encoder"])
    assert not (tmp_path / "out" / "vae").exists()  # the VAE was not written before the refusal
    with pytest.raises(RealisDanceError, match="is not the umT5 encoder"):
        wrong = tmp_path / "wrong"
        wrong.mkdir()
        (wrong / "text_encoder").symlink_to(release / "vae")
        (wrong / "tokenizer").symlink_to(release / "tokenizer")
        convert_release(wrong, tmp_path / "out2", ["text_encoder"])


def test_command_refuses_to_overwrite_and_says_what_to_do(release, converted):
    out = converted["vae"].parent.parent
    command = [sys.executable, "-m", "realisdance", "convert", str(release), "--out", str(out), "--parts", "vae"]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 2
    advice = "keep it (ComfyUI loads it as it is), remove it, or pass --overwrite."
    assert proc.stderr.strip().splitlines() == [f"error: {converted['vae']} already exists; {advice}"]
    proc = subprocess.run([*command, "--overwrite"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"vae: {converted['vae']}" in proc.stdout and "Load VAE" in proc.stdout
