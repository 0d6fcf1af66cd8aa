"""``comfy.sd`` of the double: the Wan text encoder (CLIP type wan) and the Wan 2.1 VAE, loaded from the single
files ComfyUI users have (``umt5_xxl_*.safetensors`` with its ``spiece_model`` tensor, ``wan_2.1_vae.safetensors``).

Our own stand-ins built on transformers' UMT5 and diffusers' AutoencoderKLWan, with the host's call contract:
- CLIP: ``tokenize(text)`` then ``encode_from_tokens_scheduled(tokens)`` -> ``[[cond (1, max(512, n), D),
  {"pooled_output": None}]]``; SentencePiece ids plus EOS, padded with 0 to at least 512, attention masked, every
  position past the prompt zeroed (the host's ``zero_out_masked``); no truncation.
- VAE: ``encode(pixels (F, H, W, 3) in 0..1)`` -> raw latents (1, 16, T, h, w) (the posterior mean),
  ``decode(raw)`` -> (1, F, H, W, 3) in 0..1, ``decode_tiled`` (untiled here: tiling only bounds memory),
  ``latent_channels`` 16, ``latent_dim`` 3, ``downscale_ratio`` (frames formula, 8, 8), ``first_stage_model``.
Model shapes are read from the tensors, as the host reads them from its fixed configs.
"""

from __future__ import annotations

import enum

import torch

MIN_TOKENS = 512  # the host's Wan tokenizer pads to at least this many tokens
EOS, PAD = 1, 0


class CLIPType(enum.Enum):
    STABLE_DIFFUSION = 1
    WAN = 11


def count_indexed(state: dict, prefix: str) -> int:
    """How many numbered sub-modules ``prefix<N>.`` the tensors hold (layers, blocks)."""
    indices = {int(name[len(prefix) :].split(".")[0]) for name in state if name.startswith(prefix)}
    return max(indices) + 1 if indices else 0


class WanTextEncoder:
    """What ``load_clip(..., clip_type=WAN)`` returns."""

    def __init__(self, state: dict[str, torch.Tensor]):
        import sentencepiece
        from transformers import UMT5Config, UMT5EncoderModel

        state = dict(state)
        spiece = state.pop("spiece_model", None)
        if spiece is None:
            raise RuntimeError("this umT5 file has no spiece_model tensor: the Wan tokenizer cannot be built")
        self.tokenizer = sentencepiece.SentencePieceProcessor(model_proto=bytes(spiece.numpy().tobytes()))
        heads = state["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].shape[1]
        config = UMT5Config(
            vocab_size=state["shared.weight"].shape[0],
            d_model=state["shared.weight"].shape[1],
            d_kv=state["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0] // heads,
            d_ff=state["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"].shape[0],
            num_layers=count_indexed(state, "encoder.block."),
            num_heads=heads,
            feed_forward_proj="gated-gelu",
            tie_word_embeddings=False,
        )
        self.model = UMT5EncoderModel(config).eval()
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or set(missing) - {"encoder.embed_tokens.weight"}:
            raise RuntimeError(f"not a umT5 encoder file: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self.model.encoder.embed_tokens = self.model.shared

    def tokenize(self, text: str) -> list[int]:
        return [*self.tokenizer.encode(text), EOS]

    @torch.no_grad()
    def encode_from_tokens_scheduled(self, tokens: list[int]) -> list:
        length = max(MIN_TOKENS, len(tokens))
        ids = torch.full((1, length), PAD, dtype=torch.long)
        ids[0, : len(tokens)] = torch.tensor(tokens)
        mask = torch.zeros(1, length, dtype=torch.long)
        mask[0, : len(tokens)] = 1
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        return [[hidden * mask[..., None], {"pooled_output": None}]]


def load_text_encoder_state_dicts(state_dicts, clip_type=CLIPType.STABLE_DIFFUSION, **_):
    if clip_type != CLIPType.WAN:
        raise NotImplementedError("the double's CLIPLoader knows only type wan")
    return WanTextEncoder(state_dicts[0])


def load_clip(ckpt_paths, embedding_directory=None, clip_type=CLIPType.STABLE_DIFFUSION, model_options=None):
    from safetensors.torch import load_file

    return load_text_encoder_state_dicts([load_file(path) for path in ckpt_paths], clip_type)


class VAE:
    """The Wan 2.1 VAE from original-Wan (ComfyUI) names."""

    latent_channels = 16
    latent_dim = 3

    def __init__(self, sd=None):
        from diffusers import AutoencoderKLWan
        from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

        state = convert_wan_vae_to_diffusers(sd)
        self.first_stage_model = AutoencoderKLWan(base_dim=state["encoder.conv_in.weight"].shape[0], z_dim=16)
        self.first_stage_model.load_state_dict(state, strict=True)
        self.first_stage_model.float().eval()
        self.downscale_ratio = (lambda frames: max(0, (frames + 3) // 4), 8, 8)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        video = pixels[..., :3].float().movedim(-1, 0).unsqueeze(0) * 2.0 - 1.0  # (1, 3, F, H, W)
        return self.first_stage_model.encode(video).latent_dist.mode()

    @torch.no_grad()
    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        video = self.first_stage_model.decode(samples.float()).sample
        return ((video.clamp(-1.0, 1.0) + 1.0) / 2.0).movedim(1, -1)  # (B, F, H, W, 3)

    def decode_tiled(self, samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
        return self.decode(samples)

    def temporal_compression_decode(self) -> int:
        return 4

    def spacial_compression_decode(self) -> int:
        return 8


def detect_wan_unet_config(state_dict: dict) -> dict | None:
    """The Wan 2.1 DiT shape a state dict in original-Wan names describes, read as the host reads it: width, depth
    and FFN from the weights, 128 channels per head, and the fixed 256-channel timestep, 4096-channel text and
    1280-channel CLIP inputs (a DiT of other input widths fails to load, as on the host). None: no Wan DiT."""
    if "head.modulation" not in state_dict or "patch_embedding.weight" not in state_dict:
        return None
    dim = state_dict["head.modulation"].shape[-1]
    return {
        "image_model": "wan2.1",
        "model_type": "i2v" if "img_emb.proj.0.bias" in state_dict else "t2v",
        "patch_size": (1, 2, 2),
        "in_dim": state_dict["patch_embedding.weight"].shape[1],
        "dim": dim,
        "ffn_dim": state_dict["blocks.0.ffn.0.weight"].shape[0],
        "freq_dim": 256,
        "out_dim": state_dict["head.head.weight"].shape[0] // 4,
        "num_heads": dim // 128,
        "num_layers": count_indexed(state_dict, "blocks."),
        "eps": 1e-6,
    }


def load_diffusion_model_state_dict(state_dict: dict, model_options: dict | None = None, metadata=None):
    """Detection (the first matching config of ``comfy.supported_models.models``), the model, its weights, the
    patcher; None when nothing matches. fp32 unless ``model_options["dtype"]`` names a float type."""
    import comfy.supported_models

    from .model_patcher import ModelPatcher

    if "scaled_fp8" in state_dict:
        raise NotImplementedError("the double has no scaled-fp8 layers; load a bf16 file")
    unet_config = detect_wan_unet_config(state_dict)
    if unet_config is None:
        return None
    for config_class in comfy.supported_models.models:
        if config_class.matches(unet_config, state_dict):
            break
    else:
        return None
    dtype = (model_options or {}).get("dtype")
    if dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        raise NotImplementedError(f"the double has no {dtype} layers")
    model_config = config_class({**unet_config, **({"dtype": dtype} if dtype is not None else {})})
    model = model_config.get_model(state_dict, "")
    model.load_model_weights({name: value.float() for name, value in state_dict.items() if "." in name}, "")
    return ModelPatcher(model)
