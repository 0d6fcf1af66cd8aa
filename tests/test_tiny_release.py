"""The tiny random-weight release folder: official layout, loadable by the plain classes and our wrappers."""

from __future__ import annotations

import json

import pytest
import torch

from realisdance.encoders import load_clip_image_encoder, load_scheduler, load_text_encoder, load_vae
from realisdance.errors import InputError
from realisdance.tiny import TINY_FORMAT, TOKENIZER_CORPUS, build_tiny_release, tiny_release_info

I2V_PARTS = ("transformer", "vae", "text_encoder", "tokenizer", "image_encoder", "scheduler")


@pytest.fixture(scope="module")
def i2v(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("tiny") / "i2v", seed=0)


@pytest.fixture(scope="module")
def t2v(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("tiny") / "t2v", variant="T2V", seed=0)


def _files(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _load_transformer(folder):
    from safetensors.torch import load_file

    from realisdance.model import build_transformer

    config = json.loads((folder / "transformer" / "config.json").read_text())
    model = build_transformer(config)
    state = load_file(str(folder / "transformer" / "diffusion_pytorch_model.safetensors"))
    model.load_state_dict(state, strict=True)
    return model


def test_official_layout(i2v):
    for part in I2V_PARTS:
        assert (i2v / part).is_dir(), part
    index = json.loads((i2v / "model_index.json").read_text())
    assert index["transformer"] == ["src.models.rd_dit", "RealisDanceDiT"]
    assert index["vae"] == ["diffusers", "AutoencoderKLWan"]
    assert index["text_encoder"] == ["transformers", "UMT5EncoderModel"]
    assert index["image_encoder"] == ["transformers", "CLIPVisionModel"]
    assert index["scheduler"] == ["diffusers", "UniPCMultistepScheduler"]
    transformer_config = json.loads((i2v / "transformer" / "config.json").read_text())
    assert transformer_config["_class_name"] == "RealisDanceDiT"
    assert transformer_config["shift_f"] is False and transformer_config["add_cond_in_dim"] == 32
    assert (i2v / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    scheduler_config = json.loads((i2v / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler_config["use_flow_sigmas"] and scheduler_config["prediction_type"] == "flow_prediction"
    assert tiny_release_info(i2v) == {"variant": "I2V", "seed": 0, "format": TINY_FORMAT}


def test_small(i2v, t2v):
    for folder in (i2v, t2v):
        assert sum(len(data) for data in _files(folder).values()) < 5_000_000


def test_deterministic_for_a_seed(i2v, tmp_path):
    again = build_tiny_release(tmp_path / "again", seed=0)
    assert _files(again) == _files(i2v)
    other = build_tiny_release(tmp_path / "other", seed=1)
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert _files(other)[weights] != _files(i2v)[weights]


def test_does_not_disturb_the_global_rng(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_release(tmp_path / "rng", variant="T2V")
    assert torch.equal(torch.rand(3), expected)


def test_t2v_variant(t2v):
    assert not (t2v / "image_encoder").exists()
    assert "image_encoder" not in json.loads((t2v / "model_index.json").read_text())
    config = json.loads((t2v / "transformer" / "config.json").read_text())
    assert config["in_channels"] == 16 and config["image_dim"] is None


def test_plain_library_classes_load_it(i2v):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import AutoTokenizer, CLIPVisionModel, UMT5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(str(i2v / "tokenizer"))
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    text = UMT5EncoderModel.from_pretrained(str(i2v / "text_encoder"))
    assert text.config.d_model == 32 and len(tokenizer) <= text.config.vocab_size
    image = CLIPVisionModel.from_pretrained(str(i2v / "image_encoder"))
    assert image.config.hidden_size == 24
    assert (image.config.image_size // image.config.patch_size) ** 2 + 1 == 257
    vae = AutoencoderKLWan.from_pretrained(str(i2v / "vae"))
    assert vae.config.z_dim == 16 and len(vae.config.latents_mean) == 16
    assert vae.config.latents_std[0] == 2.8184
    scheduler = UniPCMultistepScheduler.from_pretrained(str(i2v / "scheduler"))
    assert scheduler.config.flow_shift == 5.0


def test_tokenizer_agrees_with_its_sentencepiece_model(i2v):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(i2v / "tokenizer"))
    processor = spm.SentencePieceProcessor(model_file=str(i2v / "tokenizer" / "spiece.model"))
    for sentence in (*TOKENIZER_CORPUS, "an unseen prompt: Zürich 你好"):
        assert tokenizer(sentence).input_ids == processor.encode(sentence) + [1]
    assert tokenizer("").input_ids == [1]


def test_our_wrappers_load_it(i2v):
    text = load_text_encoder(i2v, dtype=torch.float32)
    assert text.encode("a dancer").shape == (1, 512, 32)
    clip = load_clip_image_encoder(i2v)
    assert clip.encode(torch.zeros(3, 64, 32)).shape == (1, 257, 24)
    vae = load_vae(i2v)
    assert vae.encode(torch.zeros(1, 3, 5, 16, 16)).shape == (1, 16, 2, 2, 2)
    assert load_scheduler(i2v).config.flow_shift == 5.0


def test_wrappers_accept_component_folders(i2v):
    text = load_text_encoder(i2v / "text_encoder")  # tokenizer found next to it; bf16 is the release default
    embeddings = text.encode("")
    assert embeddings.dtype == torch.bfloat16 and (embeddings[0, 1:] == 0).all()
    assert load_clip_image_encoder(i2v / "image_encoder").image_size == 224
    assert load_vae(i2v / "vae").z_dim == 16


def test_transformer_weights_fit_the_model_and_the_pose_path_matters(i2v):
    model = _load_transformer(i2v)
    assert model.add_proj.weight.abs().sum() > 0 and model.add_proj.bias.abs().sum() > 0
    assert not torch.equal(model.attn_conv_in.weight, model.patch_embedding.weight[:, :16])

    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(1, 36, 2, 4, 4, generator=generator)
    pose = torch.randn(1, 32, 2, 4, 4, generator=generator)
    reference = torch.randn(1, 16, 1, 4, 4, generator=generator)
    text = torch.randn(1, 512, 32, generator=generator)
    image = torch.randn(1, 257, 24, generator=generator)
    timestep = torch.tensor([624])

    def run(pose_latent):
        with torch.no_grad():
            return model(latent, timestep, text, image, add_cond=pose_latent, attn_cond=reference).sample

    with_pose, without_pose = run(pose), run(torch.zeros_like(pose))
    assert with_pose.shape == (1, 16, 2, 4, 4)
    assert not torch.allclose(with_pose, without_pose, atol=1e-4)


def test_components_fit_the_tiny_transformer(i2v):
    transformer = json.loads((i2v / "transformer" / "config.json").read_text())
    text = json.loads((i2v / "text_encoder" / "config.json").read_text())
    image = json.loads((i2v / "image_encoder" / "config.json").read_text())
    assert text["d_model"] == transformer["text_dim"]
    assert image["hidden_size"] == transformer["image_dim"]


def test_build_refuses_to_overwrite_unless_asked(i2v, tmp_path):
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        build_tiny_release(target, variant="T2V")
    assert (target / "keep.txt").exists()
    build_tiny_release(target, variant="T2V", overwrite=True)
    assert not (target / "keep.txt").exists() and tiny_release_info(target)["variant"] == "T2V"
    assert [path.name for path in tmp_path.iterdir()] == ["existing"]  # no staging folder left behind
    with pytest.raises(InputError, match="variant"):
        build_tiny_release(tmp_path / "bad", variant="I2V-14B")
