"""Text, CLIP, VAE and scheduler wrappers reproduce the release's processing (spec 1.6, 3.2-3.4, 10.3-10.5, 10.9).

Everything runs on the tiny random-weight release built by ``realisdance.tiny``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from realisdance.encoders import (
    CLIP_MEAN,
    CLIP_STD,
    WAN21_I2V_SCHEDULER_CONFIG,
    WAN21_LATENTS_MEAN,
    WAN21_LATENTS_STD,
    clean_prompt,
    denormalize_latents,
    flow_unipc_sigmas,
    flow_unipc_timesteps,
    load_clip_image_encoder,
    load_scheduler,
    load_text_encoder,
    load_vae,
    model_timestep,
    normalize_latents,
    pad_text_embeddings,
    preprocess_for_clip,
    set_release_timesteps,
)
from realisdance.encoders.folders import transformers_dtype_kwargs
from realisdance.errors import CheckpointError, InputError
from realisdance.tiny import build_tiny_release


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("encoders") / "RealisDance-DiT")


@pytest.fixture(scope="module")
def text_encoder(release):
    return load_text_encoder(release, dtype=torch.float32)


@pytest.fixture(scope="module")
def clip(release):
    return load_clip_image_encoder(release)


@pytest.fixture(scope="module")
def vae(release):
    return load_vae(release)


def _image(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -- text ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  a dancer\n\tturns   around  ", "a dancer turns around"),
        ("rock &amp;amp; roll", "rock & roll"),  # unescaped twice
        ("&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"),
        ("cafÃ© dancer", "café dancer"),  # ftfy repairs mojibake
        ("\u201cquoted\u201d", '"quoted"'),  # ftfy straightens curly quotes
        ("   ", ""),
        ("", ""),
    ],
)
def test_clean_prompt(raw, clean):
    assert clean_prompt(raw) == clean


def test_tokenize_pads_to_512_and_empty_prompt_is_one_eos(text_encoder):
    ids, mask = text_encoder.tokenize(["", "a dancer smiles"])
    assert ids.shape == mask.shape == (2, 512)
    assert ids[0, 0].item() == 1 and mask[0].sum().item() == 1  # "" -> a single </s>
    assert (ids[0, 1:] == 0).all()  # <pad> is 0
    length = int(mask[1].sum())
    assert ids[1, length - 1].item() == 1 and (ids[1, length:] == 0).all()


def test_tokenize_truncates_long_prompts_keeping_eos(text_encoder):
    ids, mask = text_encoder.tokenize("dance " * 700)
    assert ids.shape == (1, 512) and mask.all()
    assert ids[0, -1].item() == 1


def test_text_embeddings_are_zero_past_true_length(text_encoder):
    prompts = ["", "The man waves both hands", "a   dancer &amp; a child jump"]
    embeddings = text_encoder.encode(prompts)
    assert embeddings.shape == (3, 512, 32)
    model, tokenizer = text_encoder.model, text_encoder.tokenizer
    for row, prompt in enumerate(prompts):
        # The unpadded sequence through the plain encoder: padding must not change the real tokens' embeddings.
        ids = tokenizer(clean_prompt(prompt), return_tensors="pt").input_ids
        with torch.no_grad():
            expected = model(input_ids=ids).last_hidden_state[0]
        length = ids.shape[1]
        torch.testing.assert_close(embeddings[row, :length], expected, rtol=1e-5, atol=1e-5)
        assert (embeddings[row, length:] == 0).all()
        assert (embeddings[row, :length].abs().sum(-1) > 0).all()


def test_text_encoder_output_is_512_tokens_as_the_transformer_needs(text_encoder):
    from realisdance.model import TEXT_TOKENS

    assert text_encoder.encode("x").shape[1] == TEXT_TOKENS == 512


def test_pad_text_embeddings():
    short = torch.randn(7, 32)
    padded = pad_text_embeddings(short)
    assert padded.shape == (1, 512, 32)
    assert torch.equal(padded[0, :7], short) and (padded[0, 7:] == 0).all()
    long = torch.randn(2, 600, 32)
    assert torch.equal(pad_text_embeddings(long), long[:, :512])
    exact = torch.randn(1, 512, 32)
    assert torch.equal(pad_text_embeddings(exact), exact)
    with pytest.raises(InputError, match="text embeddings"):
        pad_text_embeddings(torch.randn(1, 2, 3, 4))


def test_prompts_must_be_strings(text_encoder):
    with pytest.raises(InputError):
        text_encoder.encode([None])


# -- CLIP ---------------------------------------------------------------------------------------------------------


def test_clip_squashes_the_whole_image_instead_of_cropping():
    # A horizontal ramp over a 2:1 image: a squash keeps the whole ramp (edges near -1 and +1), a centre crop would
    # keep only the middle half.
    width = 80
    ramp = torch.linspace(-1, 1, width).view(1, 1, width).expand(3, 40, width)
    pixels = preprocess_for_clip(ramp, size=224)
    assert pixels.shape == (1, 3, 224, 224)
    std = torch.tensor(CLIP_STD).view(3, 1)
    mean = torch.tensor(CLIP_MEAN).view(3, 1)
    unit = pixels[0, :, :, [0, -1]] * std.unsqueeze(-1) + mean.unsqueeze(-1)  # back to [0, 1]
    assert unit[..., 0].max() < 0.01 and unit[..., 1].min() > 0.99
    assert torch.allclose(pixels[0, :, 0], pixels[0, :, 111], atol=1e-6)  # rows stay identical: no vertical shift


def test_clip_resize_is_bicubic_without_antialias():
    image = _image(3, 300, 170)
    pixels = preprocess_for_clip(image, size=224)
    unit = ((image + 1) / 2).unsqueeze(0)
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    expected = (F.interpolate(unit, size=(224, 224), mode="bicubic", align_corners=False) - mean) / std
    torch.testing.assert_close(pixels, expected)
    antialiased = F.interpolate(unit, size=(224, 224), mode="bicubic", align_corners=False, antialias=True)
    assert not torch.allclose(pixels, (antialiased - mean) / std, atol=1e-3)


def test_clip_normalisation_of_mid_grey():
    # The unconditional branch feeds zeros_like(ref): mid grey, 0.5 after mapping to [0, 1].
    pixels = preprocess_for_clip(torch.zeros(3, 50, 90))
    expected = [(0.5 - m) / s for m, s in zip(CLIP_MEAN, CLIP_STD, strict=True)]
    for channel, value in enumerate(expected):
        torch.testing.assert_close(pixels[0, channel], torch.full((224, 224), value), rtol=0, atol=1e-5)


def test_clip_output_is_the_penultimate_hidden_state(release, clip):
    from transformers import CLIPVisionModel

    image = _image(3, 96, 160)
    tokens = clip.encode(image)
    assert tokens.shape == (1, 257, 24) and clip.num_tokens == 257
    # Independent check: a copy cut to N-1 layers ends where the penultimate state is (last_hidden_state is the
    # encoder output before post_layernorm).
    layers = clip.model.config.num_hidden_layers
    cut = CLIPVisionModel.from_pretrained(
        str(release / "image_encoder"), num_hidden_layers=layers - 1, **transformers_dtype_kwargs(torch.float32)
    ).eval()
    with torch.no_grad():
        expected = cut(pixel_values=preprocess_for_clip(image)).last_hidden_state
        last = clip.model(pixel_values=preprocess_for_clip(image)).last_hidden_state
    torch.testing.assert_close(tokens, expected)
    assert not torch.allclose(tokens, last)


def test_clip_batches_and_checks_inputs(clip):
    assert clip.encode(_image(2, 3, 64, 48)).shape == (2, 257, 24)
    with pytest.raises(InputError, match="RGB"):
        clip.encode(torch.zeros(1, 4, 32, 32))
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        clip.encode(torch.full((3, 32, 32), 200.0))


# -- VAE ----------------------------------------------------------------------------------------------------------


def test_vae_encode_is_the_normalised_posterior_mode(vae):
    video = _image(1, 3, 5, 32, 48)
    latent = vae.encode(video)
    assert latent.shape == (1, 16, 2, 4, 6) and latent.dtype == torch.float32
    with torch.no_grad():
        posterior = vae.vae.encode(video).latent_dist
    mean = torch.tensor(WAN21_LATENTS_MEAN).view(1, 16, 1, 1, 1)
    std = torch.tensor(WAN21_LATENTS_STD).view(1, 16, 1, 1, 1)
    torch.testing.assert_close(latent, (posterior.mode() - mean) * (1 / std))
    assert torch.equal(vae.encode(video), latent)  # deterministic: no sampling
    assert not torch.allclose(latent, (posterior.sample() - mean) / std)


def test_vae_shapes(vae):
    assert vae.latent_frames(81) == 21 and vae.latent_frames(5) == 2 and vae.latent_frames(1) == 1
    latent = vae.encode(_image(2, 3, 9, 16, 24))
    assert latent.shape == (2, 16, 3, 2, 3)
    video = vae.decode(latent)
    assert video.shape == (2, 3, 9, 16, 24)
    assert video.min() >= 0 and video.max() <= 1
    assert vae.encode_image(_image(1, 3, 16, 32)).shape == (1, 16, 1, 2, 4)


def test_vae_decode_denormalises_clamps_and_maps_to_unit_range(vae):
    latent = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    mean = torch.tensor(WAN21_LATENTS_MEAN).view(1, 16, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(WAN21_LATENTS_STD).view(1, 16, 1, 1, 1)
    with torch.no_grad():
        raw = vae.vae.decode(latent / inv_std + mean).sample
    torch.testing.assert_close(vae.decode(latent), (raw.clamp(-1, 1) + 1) / 2)


def test_latent_normalisation_round_trip_and_values():
    z = torch.randn(2, 16, 3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(denormalize_latents(normalize_latents(z)), z)
    normalised = normalize_latents(z)
    for channel in (0, 7, 15):
        expected = (z[:, channel] - WAN21_LATENTS_MEAN[channel]) / WAN21_LATENTS_STD[channel]
        torch.testing.assert_close(normalised[:, channel], expected)
    image_latent = torch.randn(1, 16, 8, 8)  # 4-D latents broadcast over channels too
    torch.testing.assert_close(denormalize_latents(normalize_latents(image_latent)), image_latent)
    with pytest.raises(InputError, match="channels"):
        normalize_latents(torch.randn(1, 4, 2, 2))


def test_vae_checks_video_shapes(vae):
    with pytest.raises(InputError, match="4k\\+1"):
        vae.encode(_image(1, 3, 6, 16, 16))
    with pytest.raises(InputError, match="multiple of 8"):
        vae.encode(_image(1, 3, 5, 20, 16))
    with pytest.raises(InputError, match="B, 3, F, H, W"):
        vae.encode(_image(3, 5, 16, 16))
    with pytest.raises(InputError, match="B, 16"):
        vae.decode(torch.zeros(1, 4, 2, 2, 2))


def _original_wan_key(key: str) -> str:
    """Diffusers VAE key -> original Wan key, for a test file in ComfyUI's layout (checked by diffusers'
    converter round trip below)."""

    def residual(rest: str) -> str:
        renames = (
            ("norm1.gamma", "residual.0.gamma"),
            ("conv1.", "residual.2."),
            ("norm2.gamma", "residual.3.gamma"),
            ("conv2.", "residual.6."),
            ("conv_shortcut.", "shortcut."),
        )
        for new, old in renames:
            if rest.startswith(new):
                return old + rest[len(new) :]
        return rest

    if m := re.match(r"^(quant_conv|post_quant_conv)\.(.*)", key):
        return {"quant_conv": "conv1", "post_quant_conv": "conv2"}[m[1]] + "." + m[2]
    if m := re.match(r"^(encoder|decoder)\.(conv_in|norm_out|conv_out)\.(.*)", key):
        return f"{m[1]}." + {"conv_in": "conv1", "norm_out": "head.0", "conv_out": "head.2"}[m[2]] + "." + m[3]
    if m := re.match(r"^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d)\.(.*)", key):
        return f"{m[1]}.middle.1.{m[4]}" if m[2] == "attentions" else f"{m[1]}.middle.{2 * int(m[3])}.{residual(m[4])}"
    if m := re.match(r"^encoder\.down_blocks\.(\d+)\.(.*)", key):
        return f"encoder.downsamples.{m[1]}.{residual(m[2])}"
    if m := re.match(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        return f"decoder.upsamples.{4 * int(m[1]) + int(m[2])}.{residual(m[3])}"
    if m := re.match(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key):
        return f"decoder.upsamples.{4 * int(m[1]) + 3}.{m[2]}"
    raise KeyError(key)


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_vae_loads_from_a_single_safetensors_file(tmp_path, vae, layout):
    from safetensors.torch import save_file

    state = {key: value.contiguous() for key, value in vae.vae.state_dict().items()}
    if layout == "original":
        state = {_original_wan_key(key): value for key, value in state.items()}
    path = tmp_path / "wan_2.1_vae.safetensors"
    save_file(state, str(path))
    single = load_vae(path)
    video = _image(1, 3, 5, 16, 16)
    assert torch.equal(single.encode(video), vae.encode(video))
    assert single.latents_mean == vae.latents_mean


def test_vae_file_errors(tmp_path):
    from safetensors.torch import save_file

    foreign = tmp_path / "not_a_vae.safetensors"
    save_file({"weight": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a Wan VAE"):
        load_vae(foreign)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="Re-download"):
        load_vae(broken)


# -- scheduler ----------------------------------------------------------------------------------------------------


def _spec_sigmas(steps: int, shift: float) -> np.ndarray:
    """Spec 3.2 written out literally: sigma_raw = 1 - linspace(1, 1/1000, N+1); reverse(shifted), drop last."""
    raw = 1 - np.linspace(1, 1 / 1000, steps + 1)
    return np.flip(shift * raw / (1 + (shift - 1) * raw))[:-1]


@pytest.mark.parametrize("steps", [1, 4, 20, 40])
@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0])
def test_release_schedule_matches_spec_and_diffusers(steps, shift):
    sigmas = flow_unipc_sigmas(steps, shift)
    assert len(sigmas) == steps + 1 and sigmas[-1] == 0
    np.testing.assert_allclose(sigmas[:-1], _spec_sigmas(steps, shift), rtol=0, atol=1e-12)
    scheduler = load_scheduler(WAN21_I2V_SCHEDULER_CONFIG, shift=shift)
    set_release_timesteps(scheduler, steps)
    np.testing.assert_allclose(scheduler.sigmas.numpy(), sigmas.astype(np.float32), rtol=0, atol=1e-7)
    assert scheduler.timesteps.dtype == torch.int64
    assert scheduler.timesteps.tolist() == flow_unipc_timesteps(steps, shift).tolist()


def test_new_diffusers_default_schedule_differs_from_the_release():
    import diffusers
    from packaging.version import Version

    if Version(diffusers.__version__) < Version("0.37"):
        pytest.skip("diffusers <= 0.36 computes the release schedule itself")
    scheduler = load_scheduler(WAN21_I2V_SCHEDULER_CONFIG)
    scheduler.set_timesteps(40)
    assert scheduler.sigmas[0] > 0.9999  # 1 - 1e-6 since diffusers 0.37; the release starts at shift(0.999)
    assert flow_unipc_sigmas(40, 5.0)[0] == pytest.approx(0.9997998, abs=1e-6)


def test_model_timestep_truncates():
    scheduler = load_scheduler(WAN21_I2V_SCHEDULER_CONFIG)
    set_release_timesteps(scheduler, 40)
    sigmas = flow_unipc_sigmas(40, 5.0)
    step = int(np.argmin(np.abs(sigmas - 0.62469)))
    assert sigmas[step] == pytest.approx(0.62469, abs=1e-5)
    t = scheduler.timesteps[step]
    assert model_timestep(scheduler, t).item() == 624  # not round(624.69) = 625
    expanded = model_timestep(scheduler, t, batch_size=2)
    assert expanded.dtype == torch.int64 and expanded.tolist() == [624, 624]

    euler = load_scheduler(WAN21_I2V_SCHEDULER_CONFIG, kind="euler")
    set_release_timesteps(euler, 40)
    assert euler.timesteps[step].item() == pytest.approx(624.687, abs=1e-3)  # the float the scheduler steps with
    assert torch.equal(model_timestep(euler, euler.timesteps), scheduler.timesteps)
    torch.testing.assert_close(euler.sigmas, scheduler.sigmas)
    with pytest.raises(InputError):
        model_timestep(scheduler, scheduler.timesteps[:3], batch_size=2)


def test_scheduler_steps_with_its_own_timesteps():
    for kind in ("unipc", "euler"):
        scheduler = load_scheduler(WAN21_I2V_SCHEDULER_CONFIG, kind=kind)
        set_release_timesteps(scheduler, 4)
        sample = torch.randn(1, 4)
        for t in scheduler.timesteps:
            sample = scheduler.step(torch.randn(1, 4), t, sample).prev_sample
        assert torch.isfinite(sample).all()


def test_load_scheduler_sources_and_kinds(release, tmp_path):
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    config_file = release / "scheduler" / "scheduler_config.json"
    for source in (release, release / "scheduler", config_file, json.loads(config_file.read_text())):
        scheduler = load_scheduler(source)
        assert isinstance(scheduler, UniPCMultistepScheduler)
        assert scheduler.config.flow_shift == 5.0 and scheduler.config.prediction_type == "flow_prediction"
    euler = load_scheduler(release, kind="euler")
    assert isinstance(euler, FlowMatchEulerDiscreteScheduler) and euler.config.shift == 5.0
    assert load_scheduler(release, shift=3.0).config.flow_shift == 3.0
    assert load_scheduler(release, kind="euler", shift=3.0).config.shift == 3.0
    back = load_scheduler({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 7.0}, kind="unipc")
    assert isinstance(back, UniPCMultistepScheduler) and back.config.flow_shift == 7.0
    assert back.config.use_flow_sigmas


def test_load_scheduler_errors(tmp_path):
    with pytest.raises(InputError, match="kind"):
        load_scheduler(WAN21_I2V_SCHEDULER_CONFIG, kind="ddim")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_scheduler(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="scheduler_config.json"):
        load_scheduler(tmp_path)
    with pytest.raises(CheckpointError, match="not a diffusers scheduler"):
        load_scheduler({"_class_name": "NoSuchScheduler"})
    with pytest.raises(CheckpointError, match="_class_name"):
        load_scheduler({"flow_shift": 5.0})
    with pytest.raises(CheckpointError, match="flow matching"):
        load_scheduler({**WAN21_I2V_SCHEDULER_CONFIG, "use_flow_sigmas": False, "prediction_type": "epsilon"})


# -- loader errors: a wrong path says which path and what to point at ---------------------------------------------


def test_loaders_reject_missing_paths(tmp_path):
    missing = tmp_path / "nowhere"
    for loader in (load_vae, load_text_encoder, load_clip_image_encoder):
        with pytest.raises(CheckpointError, match="does not exist") as error:
            loader(missing)
        assert str(missing) in str(error.value)


def test_loaders_reject_the_wrong_component(release):
    with pytest.raises(CheckpointError, match="not the Wan VAE") as error:
        load_vae(release / "text_encoder")
    assert "text_encoder" in str(error.value) and "vae/" in str(error.value)
    with pytest.raises(CheckpointError, match="not the umT5 text encoder"):
        load_text_encoder(release / "vae")
    with pytest.raises(CheckpointError, match="not a CLIP vision model"):
        load_clip_image_encoder(release / "text_encoder")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_vae(release / "tokenizer")


def test_t2v_release_has_no_image_encoder(tmp_path):
    t2v = build_tiny_release(tmp_path / "t2v", variant="T2V")
    with pytest.raises(CheckpointError, match="image_encoder"):
        load_clip_image_encoder(t2v)


def test_tokenizer_must_match_the_text_encoder(release, tmp_path):
    from transformers import AutoTokenizer

    bigger = AutoTokenizer.from_pretrained(str(release / "tokenizer"))
    bigger.add_tokens([f"<new_{i}>" for i in range(8)])  # more tokens than the encoder's 64 embeddings
    bigger.save_pretrained(str(tmp_path / "tokenizer"))
    with pytest.raises(CheckpointError, match="does not belong to the text encoder"):
        load_text_encoder(release, tokenizer_path=tmp_path / "tokenizer", dtype=torch.float32)
