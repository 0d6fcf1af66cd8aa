"""CLIP image tokens of the reference image, as the release computes them (spec 1.6, 9.4, 10.5).

The RAW reference image (before it is resized for the VAE) is mapped from [-1, 1] to [0, 1], resized bicubically to
the CLIP input size WITHOUT cropping (the aspect ratio is squashed), normalised with the OpenAI CLIP mean/std, and
encoded; the output is the penultimate hidden state (no post-layernorm): (B, 257, 1280) for ViT-H/14 at 224 px.
ComfyUI's own CLIP vision preprocessing centre-crops, which is why this is done here.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import CheckpointError, InputError
from .folders import component_dir, describe_config, read_json, transformers_dtype_kwargs
from .wrapped import WrappedModule

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Values this far outside [-1, 1] mean the image was passed in [0, 255] (or another range) by mistake.
_RANGE_TOLERANCE = 0.5


def as_image_batch(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) or (B, 3, H, W) -> (B, 3, H, W), with a clear error for anything else."""
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[1] != 3:
        raise InputError(f"the reference image must be (3, H, W) or (B, 3, H, W) RGB, got {tuple(image.shape)}")
    return image


def squash_to_clip_size(pixels: torch.Tensor, size: int = 224) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size): the whole image squashed, bicubic, align_corners=False, no antialias
    and no clamp, as the release resizes the reference for CLIP."""
    return F.interpolate(pixels, size=(size, size), mode="bicubic", align_corners=False)


def preprocess_for_clip(image: torch.Tensor, size: int = 224) -> torch.Tensor:
    """[-1, 1] image (3, H, W) or (B, 3, H, W) -> CLIP pixel values (B, 3, size, size), float32.

    Bicubic, align_corners=False, no antialias, no crop and no clamp, as the release does.
    """
    image = as_image_batch(image).float()
    if image.numel() and (image.min() < -1 - _RANGE_TOLERANCE or image.max() > 1 + _RANGE_TOLERANCE):
        raise InputError(
            f"the reference image must be in [-1, 1], got values in [{image.min().item():.3g}, "
            f"{image.max().item():.3g}]; convert with x / 127.5 - 1 (from 0..255) or x * 2 - 1 (from 0..1)"
        )
    pixels = squash_to_clip_size((image + 1) / 2, size)
    mean = torch.tensor(CLIP_MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std


class ClipImageEncoder(WrappedModule):
    """``CLIPVisionModel`` wrapper; ``encode(image)`` gives the penultimate hidden states (B, tokens, hidden)."""

    def __init__(self, model) -> None:
        self.model = self.module = model.eval().requires_grad_(False)

    @property
    def image_size(self) -> int:
        return int(self.model.config.image_size)

    @property
    def num_tokens(self) -> int:
        """Patch tokens plus the class token: 257 for the release's ViT-H/14 at 224 px."""
        return (self.image_size // int(self.model.config.patch_size)) ** 2 + 1

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Raw reference image in [-1, 1] -> penultimate hidden states (B, tokens, hidden), in the model's dtype."""
        pixels = preprocess_for_clip(image.to(self.device), self.image_size).to(self.dtype)
        outputs = self.model(pixel_values=pixels, output_hidden_states=True)
        return outputs.hidden_states[-2]

    __call__ = encode


def load_clip_image_encoder(
    path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = torch.float32
) -> ClipImageEncoder:
    """``CLIPVisionModel`` from the release's ``image_encoder/`` folder (or the release root); fp32 as the release."""
    from transformers import CLIPVisionModel

    folder = component_dir(path, "image_encoder", ("config.json",), "the CLIP image encoder")
    config = read_json(folder / "config.json")
    if config.get("model_type") not in ("clip_vision_model", "clip"):
        raise CheckpointError(
            f"{folder} holds {describe_config(config)}, not a CLIP vision model (config.json model_type "
            "'clip_vision_model'). Point this at the release's 'image_encoder/' folder; T2V models have none."
        )
    try:
        model = CLIPVisionModel.from_pretrained(str(folder), **transformers_dtype_kwargs(dtype))
    except Exception as error:  # transformers raises many kinds (OSError, ValueError, safetensors errors)
        raise CheckpointError(
            f"cannot load the CLIP image encoder from {folder}: {error}. Check that the download is complete."
        ) from error
    return ClipImageEncoder(model.to(device))
