"""Double of ComfyUI's ``latent_preview`` and ``comfy.latent_formats``: what the sampler node uses for previews.

The real host picks a previewer from its ``--preview-method`` (none / auto / latent2rgb / taesd) and returns
``("JPEG", PIL.Image, max_size)`` for the progress bar; this stand-in keeps that contract with a plain mapping of the
first three latent channels (our own, not the host's colour factors), enough to test the plumbing.
"""

from __future__ import annotations

import torch
from PIL import Image

from realisdance.encoders.vae import denormalize_latents, normalize_latents

MAX_PREVIEW_RESOLUTION = 512
PREVIEW_METHOD = "auto"  # tests set "none" to check that a host without previews is fine


class Wan21:
    """The Wan 2.1 latent format (16 channels, 3 latent dimensions, the VAE's per-channel mean / std): models take
    latents normalised (``process_in``) and LATENT dicts hold them raw."""

    latent_channels = 16
    latent_dimensions = 3

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        return normalize_latents(latent)

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        return denormalize_latents(latent)


class _ChannelPreviewer:
    def decode_latent_to_preview_image(self, preview_format, x0: torch.Tensor):
        if x0.ndim != 5:
            raise ValueError(f"a Wan 2.1 preview needs a (B, C, T, H, W) latent, got {tuple(x0.shape)}")
        rgb = x0[0, :3, 0].movedim(0, -1).float()
        pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).cpu().numpy()
        return ("JPEG", Image.fromarray(pixels), MAX_PREVIEW_RESOLUTION)


def get_previewer(device, latent_format):
    if PREVIEW_METHOD == "none":
        return None
    if getattr(latent_format, "latent_dimensions", 2) != 3:
        raise TypeError("the stand-in previewer only knows the Wan 2.1 latent format")
    return _ChannelPreviewer()


def prepare_callback(model, steps: int, x0_output_dict=None):
    """The sampler's per-step callback: the node's progress bar, with a preview of the denoised estimate."""
    import comfy.utils

    previewer = get_previewer(None, Wan21())
    bar = comfy.utils.ProgressBar(steps)

    def callback(step, x0, x, total_steps):
        preview = None if previewer is None else previewer.decode_latent_to_preview_image("JPEG", x0)
        bar.update_absolute(step + 1, total_steps, preview)

    return callback
