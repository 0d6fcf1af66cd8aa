"""Peak device memory of the stages around the DiT: text encoder, CLIP and VAE decode."""

from __future__ import annotations

import torch

from ..encoders.vae_tiling import choose_tiling, decode_peak_bytes
from ..errors import RealisDanceError
from .sizes import JobSize

# umT5-XXL on 512 tokens: hidden states, attention scores and the FFN hidden of one layer, float32, with slack.
TEXT_ACTIVATION_BYTES = 512 * (4096 * 8 + 10240 * 2 + 64 * 512 * 2) * 4
# CLIP ViT-H/14 at 224 px: 257 tokens, tiny next to its weights.
CLIP_ACTIVATION_BYTES = 257 * (1280 * 8 + 5120 * 2 + 16 * 257 * 2) * 4


def vae_decode_peak(job: JobSize, tiling=None, dtype=None) -> int:
    """Working memory of decoding ``job``'s latent (weights excluded), tiled when ``tiling`` is given (the formula is
    calibrated on the real VAE architecture, see ``realisdance/encoders/vae_tiling.py``)."""
    return int(decode_peak_bytes(job.latent_frames, job.height, job.width, tiling, dtype or torch.float32))


def choose_vae_tiling(job: JobSize, budget_bytes: int, dtype=None):
    """(tiling or None, working bytes): the largest tiles that fit ``budget_bytes``; None = untiled."""
    untiled = vae_decode_peak(job, None, dtype)
    if untiled <= budget_bytes:
        return None, untiled
    try:
        tiling = choose_tiling(budget_bytes, job.latent_frames, job.height, job.width, dtype or torch.float32)
    except RealisDanceError:  # not even the smallest tile fits this room; the planner tries another placement
        return None, untiled
    if tiling is None:
        return None, untiled
    return tiling, vae_decode_peak(job, tiling, dtype)
