"""ComfyUI's native objects seen through the core's interfaces (duck-typed: no ComfyUI import here).

- CONDITIONING (``[[tensor (1, L, 4096), {...}]]`` from CLIPTextEncode with the Wan umT5) -> (1, 512, D) text
  embeddings. ComfyUI's Wan tokenizer pads to at least 512 tokens and its encoder zeroes every position past the
  prompt (``zero_out_masked``), which is what the release feeds the DiT; longer prompts are cut at 512 tokens as the
  release's tokenizer does (ComfyUI would keep them, so the last kept token is not EOS there: see the README).
- CLIP_VISION (the loaded encoder, not its output) -> an encoder that applies the release's preprocessing: the whole
  reference squashed to 224 x 224, no centre crop. An encoder, because a CLIP_VISION_OUTPUT records neither
  whether it was centre-cropped nor anything that could reveal it, and because the unconditional branch needs CLIP
  of a grey image, which only an encoder can make.
- VAE (ComfyUI's Wan 2.1 VAE) -> the core's VAE interface on NORMALISED latents (ComfyUI's VAE works on raw ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from realisdance.encoders import ClipImageEncoder, VideoVAE, normalize_latents, pad_text_embeddings
from realisdance.encoders.clip import squash_to_clip_size
from realisdance.encoders.vae import denormalize_latents
from realisdance.errors import InputError

WAN21_LATENT_CHANNELS = 16


# ---- text ----


@dataclass(frozen=True)
class TextEmbeds:
    """What RealisDanceTextEncode outputs: (1, 512, D) float32 embeddings and the prompt they came from."""

    embeddings: torch.Tensor
    prompt: str


def text_embeddings(value, what: str) -> torch.Tensor:
    """(1, 512, D) float32 CPU embeddings from our TextEmbeds or a native CONDITIONING."""
    if isinstance(value, TextEmbeds):
        return value.embeddings
    if not isinstance(value, list) or not value:
        raise InputError(f"the {what} text is not text embeddings or a CONDITIONING; connect a text encode node.")
    if len(value) != 1:
        raise InputError(
            f"the {what} CONDITIONING holds {len(value)} entries (combined or concatenated prompts); RealisDance "
            "takes one prompt per branch: connect a single CLIPTextEncode output."
        )
    entry = value[0]
    tensor = entry[0] if isinstance(entry, list | tuple) and entry else None
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 3 or tensor.shape[0] != 1:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise InputError(f"the {what} CONDITIONING tensor is {shape}; expected one prompt [1, tokens, channels].")
    return pad_text_embeddings(tensor.detach().float().cpu())


# ---- CLIP vision ----


class NativeClipVision:
    """ComfyUI's CLIP_VISION behind ``ClipImageEncoder.encode``: raw [-1, 1] images -> penultimate hidden states.

    The image is squashed to the model's size here, as the release does it (bicubic, no antialias): the host's own
    resize (crop=False) antialiases, which on a 768 px reference changes CLIP's tokens by a large fraction of their
    size (docs/comfyui.md, "The host's encoders"). Given an image of its size, the host only rounds it to 8 bits
    and normalises.
    """

    def __init__(self, clip_vision) -> None:
        self.clip_vision = clip_vision

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        if image.ndim == 3:
            image = image.unsqueeze(0)
        size = int(getattr(self.clip_vision, "image_size", 224))
        pixels = squash_to_clip_size((image.float() + 1.0) / 2.0, size)
        pixels = pixels.permute(0, 2, 3, 1)  # (B, H, W, 3) in [0, 1], ComfyUI's IMAGE
        output = self.clip_vision.encode_image(pixels, crop=False)
        return output["penultimate_hidden_states"].float().cpu()

    def to(self, device=None, dtype=None):
        return self  # ComfyUI moves its own models


def image_encoder(value):
    """Our ClipImageEncoder, a wrapped native CLIP_VISION, or None."""
    if value is None or isinstance(value, ClipImageEncoder):
        return value
    if callable(getattr(value, "encode_image", None)):
        return NativeClipVision(value)
    raise InputError("the image encoder is not a CLIP vision model; connect a CLIP vision loader.")


# ---- VAE ----


def _ratio(value, frames: int | None = None):
    """ComfyUI stores compression as an int or (temporal formula, h, w)."""
    if isinstance(value, tuple | list):
        return value[-1] if frames is None else value[0](frames)
    return value


class NativeWanVAE:
    """ComfyUI's Wan 2.1 VAE behind the core VAE interface: video in [-1, 1] <-> NORMALISED latents."""

    def __init__(self, vae) -> None:
        channels = getattr(vae, "latent_channels", None)
        dims = getattr(vae, "latent_dim", None)
        spatial = _ratio(getattr(vae, "downscale_ratio", None))
        if channels != WAN21_LATENT_CHANNELS or dims != 3 or spatial != 8:
            raise InputError(
                f"the connected VAE is not the Wan 2.1 VAE (it has {channels} latent channels, {dims}-D latents, "
                f"{spatial}x downscale; Wan 2.1 has 16, 3-D, 8x). Load wan_2.1_vae.safetensors."
            )
        self.vae = vae

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, F, H, W) in [-1, 1] -> normalised (B, 16, T, h, w). Frame by batch item: ComfyUI's encode
        takes one clip as an IMAGE batch (F, H, W, 3)."""
        latents = []
        for clip in video:
            pixels = ((clip.float() + 1.0) / 2.0).permute(1, 2, 3, 0)  # (F, H, W, 3); no clamp, as the release
            latents.append(self.vae.encode(pixels).float().cpu())
        return normalize_latents(torch.cat(latents))

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.encode(image.unsqueeze(2))

    def decode(self, latents: torch.Tensor, tiling=None) -> torch.Tensor:
        """Normalised (B, 16, T, h, w) -> (B, 3, F, H, W) in [0, 1]."""
        raw = denormalize_latents(latents.float())
        if tiling is None:
            frames = self.vae.decode(raw)
        else:
            latent_tile, latent_overlap = max(1, tiling.tile // 8), max(0, tiling.overlap // 8)
            frames = self.vae.decode_tiled(raw, tile_x=latent_tile, tile_y=latent_tile, overlap=latent_overlap)
        if frames.ndim == 4:  # one clip as an IMAGE batch
            frames = frames.unsqueeze(0)
        return frames.float().cpu().permute(0, 4, 1, 2, 3)

    def to(self, device=None, dtype=None):
        return self


def chunk_module(vae) -> torch.nn.Module | None:
    """The torch module whose encoder / decoder run once per chunk (``realisdance.encoders.chunk_hooks``)."""
    if isinstance(vae, NativeWanVAE):
        return getattr(vae.vae, "first_stage_model", None)
    return getattr(vae, "module", None)


def video_vae(value):
    """Our VideoVAE or a wrapped native Wan 2.1 VAE."""
    if isinstance(value, VideoVAE):
        return value
    if callable(getattr(value, "encode", None)) and hasattr(value, "latent_channels"):
        return NativeWanVAE(value)
    raise InputError("the vae input is not a VAE; connect a VAE loader.")
