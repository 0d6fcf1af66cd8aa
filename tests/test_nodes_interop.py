"""Native ComfyUI objects (hand-built with ComfyUI 0.3.64's conventions) in our nodes, and the encoder loaders."""

from __future__ import annotations

import shutil
import sys

import pytest
import torch
import torch.nn.functional as F

from realisdance.encoders import CLIP_MEAN, CLIP_STD, load_clip_image_encoder, load_text_encoder, load_vae
from realisdance.errors import CheckpointError, InputError
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("interop") / "release")


@pytest.fixture
def interop(comfy, release):
    (comfy.model_dir("realisdance") / "Tiny").symlink_to(release, target_is_directory=True)
    pack = comfy.install_pack()
    return sys.modules[f"{pack.module_name}.nodes.interop"]


class ComfyStyleWanVAE:
    """ComfyUI's VAE conventions around a diffusers Wan VAE: IMAGE batches in, raw (un-normalised) latents out."""

    latent_channels, latent_dim = 16, 3
    downscale_ratio = (lambda frames: (frames + 3) // 4, 8, 8)

    def __init__(self, model):
        self.model = model

    def encode(self, pixels):  # (F, H, W, 3) in 0..1 -> (1, 16, T, h, w) raw posterior mode
        video = (pixels * 2.0 - 1.0).movedim(-1, 0).unsqueeze(0)
        return self.model.encode(video).latent_dist.mode()

    def decode(self, raw):  # -> (1, F, H, W, 3) in 0..1
        video = self.model.decode(raw, return_dict=False)[0]
        return torch.clamp((video + 1.0) / 2.0, 0.0, 1.0).movedim(1, -1)


class ComfyStyleClipVision:
    """ComfyUI's CLIP_VISION.encode_image: its clip_preprocess (antialiased bicubic, 8-bit rounding), then the
    penultimate hidden state, returned in an Output-like mapping."""

    def __init__(self, model):
        self.model = model
        self.crops = []

    def encode_image(self, image, crop=True):
        self.crops.append(crop)
        pixels = image.movedim(-1, 1)
        if crop:
            raise AssertionError("RealisDance must ask for the uncropped squash")
        pixels = F.interpolate(pixels, size=(224, 224), mode="bicubic", antialias=True)
        pixels = torch.clip(255.0 * pixels, 0, 255).round() / 255.0
        pixels = (pixels - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
        hidden = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]
        return {"penultimate_hidden_states": hidden, "last_hidden_state": hidden}


def test_native_conditioning_becomes_512_tokens_with_zeros_past_the_prompt(interop, release):
    encoder = load_text_encoder(release, dtype=torch.float32)
    ours = encoder.encode("a dancer")
    length = int(encoder.tokenize("a dancer")[1].sum())
    # ComfyUI's Wan umT5: min_length 512, masked positions zeroed; a host that padded less, or not at all:
    for padded_to in (512, length, 40):
        tokens = torch.zeros(1, padded_to, ours.shape[-1])
        tokens[:, :length] = ours[:, :length]
        converted = interop.text_embeddings([[tokens, {"pooled_output": None}]], "positive")
        torch.testing.assert_close(converted, ours, rtol=0, atol=0)
    long = torch.randn(1, 600, ours.shape[-1])  # a prompt past 512 tokens: cut there, as the release's tokenizer
    torch.testing.assert_close(interop.text_embeddings([[long, {}]], "positive"), long[:, :512])


def test_native_conditioning_that_holds_more_than_one_prompt_is_refused(interop):
    tokens = torch.randn(1, 512, 32)
    with pytest.raises(InputError, match="one prompt per branch"):
        interop.text_embeddings([[tokens, {}], [tokens, {}]], "positive")
    with pytest.raises(InputError, match=r"expected one prompt \[1, tokens, channels\]"):
        interop.text_embeddings([[torch.randn(2, 512, 32), {}]], "negative")


def test_native_wan_vae_gives_the_core_vae_s_normalised_latents_and_frames(interop, release):
    ours = load_vae(release)
    native = interop.video_vae(ComfyStyleWanVAE(ours.vae))
    video = torch.rand(1, 3, 5, 32, 48) * 2 - 1
    torch.testing.assert_close(native.encode(video), ours.encode(video), rtol=1e-4, atol=1e-5)
    image = torch.rand(1, 3, 32, 48) * 2 - 1
    torch.testing.assert_close(native.encode_image(image), ours.encode_image(image), rtol=1e-4, atol=1e-5)
    latents = torch.randn(1, 16, 2, 4, 6)
    torch.testing.assert_close(native.decode(latents), ours.decode(latents), rtol=1e-4, atol=1e-5)


def test_a_vae_that_is_not_wan_2_1_is_refused(interop):
    class ImageVAE:  # an SD-style VAE as ComfyUI describes it
        latent_channels, latent_dim, downscale_ratio = 4, 2, 8

        def encode(self, pixels):
            raise AssertionError("never called")

    with pytest.raises(InputError, match="not the Wan 2.1 VAE.*4 latent channels"):
        interop.video_vae(ImageVAE())


def test_native_clip_vision_is_asked_for_the_uncropped_squash_and_matches_ours_closely(interop, release):
    ours = load_clip_image_encoder(release)
    native_model = ComfyStyleClipVision(ours.model)
    native = interop.image_encoder(native_model)
    reference = torch.rand(1, 3, 90, 60) * 2 - 1
    expected, got = ours.encode(reference), native.encode(reference)
    assert native_model.crops == [False]
    assert got.shape == expected.shape
    # Not bit-identical (ComfyUI antialiases and rounds to 8 bits), but the same squashed image.
    assert (got - expected).abs().mean() < 0.1 * expected.abs().mean()
    cropped = ours.encode(reference[:, :, 15:75, :])  # what a centre crop would have seen
    assert (got - expected).abs().mean() < (cropped - expected).abs().mean()


def _loader(comfy, node_id, name, value):
    return comfy.run({"1": {"class_type": node_id, "inputs": {name: value, "dtype": "auto"}}}, targets=["1"])


def test_loaders_take_the_release_folder_and_a_vae_file(comfy, interop, release):
    shutil.copy(release / "vae" / "diffusion_pytorch_model.safetensors", comfy.model_dir("vae") / "wan_vae.safetensors")
    comfy.install_pack()
    for node_id, name in (("RealisDanceVAELoader", "vae"), ("RealisDanceTextEncoderLoader", "text_encoder")):
        assert _loader(comfy, node_id, name, "Tiny/").raise_error().output("1") is not None
    vae = _loader(comfy, "RealisDanceVAELoader", "vae", "wan_vae.safetensors").raise_error().output("1")
    assert vae.z_dim == 16 and vae.dtype == torch.float32


def test_loaders_name_the_kind_of_a_wrong_file(comfy, interop, release):
    from safetensors.torch import save_file
    from transformers import UMT5EncoderModel

    shutil.copy(release / "vae" / "diffusion_pytorch_model.safetensors", comfy.model_dir("text_encoders") / "v.sft")
    umt5 = UMT5EncoderModel.from_pretrained(str(release / "text_encoder"))
    state = {k: v.contiguous() for k, v in umt5.state_dict().items() if k != "encoder.embed_tokens.weight"}
    save_file(state, comfy.model_dir("text_encoders") / "umt5.safetensors")
    save_file(state, comfy.model_dir("vae") / "umt5.safetensors")
    comfy.install_pack()

    result = _loader(comfy, "RealisDanceTextEncoderLoader", "text_encoder", "v.sft")
    assert isinstance(result.error, CheckpointError) and "'v.sft' is a Wan VAE, not a umT5 text encoder" in str(
        result.error
    )
    result = _loader(comfy, "RealisDanceTextEncoderLoader", "text_encoder", "umt5.safetensors")
    assert isinstance(result.error, CheckpointError) and "Load CLIP node (type wan)" in str(result.error)
    result = _loader(comfy, "RealisDanceVAELoader", "vae", "umt5.safetensors")
    assert isinstance(result.error, CheckpointError) and "is a umT5 text encoder, not a Wan VAE" in str(result.error)


def test_decode_node_tiles_on_request_and_gives_an_image_batch(comfy, interop):
    io = comfy.io
    raw = torch.randn(1, 16, 2, 8, 8)

    class TestLatent(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="TestLatent", outputs=[io.Latent.Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput({"samples": raw})

    comfy.nodes.NODE_CLASS_MAPPINGS["TestLatent"] = TestLatent
    graph = {
        "vae": {"class_type": "RealisDanceVAELoader", "inputs": {"vae": "Tiny/", "dtype": "auto"}},
        "latent": {"class_type": "TestLatent", "inputs": {}},
    }
    for mode in ("off", "on"):
        graph[mode] = {
            "class_type": "RealisDanceDecode",
            "inputs": {"vae": ["vae", 0], "latent": ["latent", 0], "tiling": mode, "tile_size": 64, "tile_overlap": 32},
        }
    result = comfy.run(graph, targets=["off", "on"]).raise_error()
    untiled, tiled = result.output("off"), result.output("on")
    assert untiled.shape == tiled.shape == (5, 64, 64, 3)
    assert "tiles 64px overlap 32px" in result.ui["on"]["realisdance_summary"][0]
    assert (tiled - untiled).abs().mean() < 0.05  # blended tiles approximate the whole-frame decode
    graph["on"]["inputs"]["tile_overlap"] = 64
    result = comfy.run(graph, targets=["on"])
    assert isinstance(result.error, InputError) and "smaller than tile_size" in str(result.error)
