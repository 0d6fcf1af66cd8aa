"""Latents as ComfyUI passes them between nodes: the Wan 2.1 LATENT dict, un-normalised.

The core works on NORMALISED latents ((z - mean) / std, what the DiT sees); ComfyUI's LATENT holds the raw VAE
latent and normalises inside its model (``latent_formats.Wan21.process_in``), so native VAEDecode, TrimVideoLatent
and friends expect raw values. These two functions are the only crossing point.
"""

from __future__ import annotations

import torch

from realisdance.encoders.vae import denormalize_latents, normalize_latents
from realisdance.errors import InputError

LATENT_CHANNELS = 16


def to_comfy_latent(normalised: torch.Tensor) -> dict[str, torch.Tensor]:
    """Normalised (B, 16, T, h, w) -> ``{"samples": raw latent}`` on the CPU, float32 (Wan 2.1 layout)."""
    return {"samples": denormalize_latents(normalised.detach().float()).cpu()}


def from_comfy_latent(latent) -> torch.Tensor:
    """A ComfyUI LATENT dict (Wan 2.1 layout, raw) -> the normalised latent (B, 16, T, h, w), float32."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise InputError("the latent input is not a ComfyUI LATENT (a dict with 'samples'); connect a LATENT output.")
    if samples.ndim != 5 or samples.shape[1] != LATENT_CHANNELS:
        raise InputError(
            f"the latent has shape {tuple(samples.shape)}; RealisDance needs a Wan 2.1 video latent "
            f"[B, {LATENT_CHANNELS}, T, H/8, W/8] (an image model's or Wan 2.2's latent does not fit)."
        )
    return normalize_latents(samples.float())
