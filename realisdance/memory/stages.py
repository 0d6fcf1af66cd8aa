"""Peak device memory of the stages around the DiT: text encoder, CLIP and VAE decode."""

from __future__ import annotations

import torch

from ..encoders.vae_streaming import DECODE_CHUNK
from ..encoders.vae_tiling import choose_tiling, decode_peak_bytes
from ..errors import RealisDanceError
from .sizes import JobSize

# Peak activation elements (times the encoder's element size = bytes) of one prompt / one image, measured on the
# real architectures with live tensor bytes on the meta device (tests/test_planner_calibration.py re-measures them
# and holds each within 25 % above the measurement): umT5-XXL on 512 padded tokens peaked at 120.25 MiB in bf16
# (position bias plus mask per head, 64 heads x 512 x 512), CLIP ViT-H/14 at 224 px with every hidden state kept
# (the release takes the penultimate one) at 52.7 MiB in fp32. Each is rounded up by about 10 %.
TEXT_ACTIVATION_ELEMENTS = 66 * 2**20
CLIP_ACTIVATION_ELEMENTS = 15 * 2**20


def text_activation_bytes(itemsize: int) -> int:
    """Working memory of encoding one prompt with umT5-XXL whose weights are ``itemsize`` bytes per element."""
    return TEXT_ACTIVATION_ELEMENTS * itemsize


def clip_activation_bytes(itemsize: int = 4) -> int:
    """Working memory of encoding one reference image with CLIP ViT-H/14 (fp32 in the release)."""
    return CLIP_ACTIVATION_ELEMENTS * itemsize


def decoded_latent_frames(job: JobSize) -> int:
    """Latent frames on the device at once during the decode: the pipeline decodes a few at a time and sends the
    frames on (``VideoVAE.decode_chunks``), so the decode's memory does not grow with the clip."""
    return min(job.clip_latent_frames, DECODE_CHUNK)


def vae_decode_peak(job: JobSize, tiling=None, dtype=None) -> int:
    """Working memory of decoding ``job``'s latent (weights excluded), tiled when ``tiling`` is given (the formula is
    calibrated on the real VAE architecture, see ``realisdance/encoders/vae_tiling.py``)."""
    return int(decode_peak_bytes(decoded_latent_frames(job), job.height, job.width, tiling, dtype or torch.float32))


def choose_vae_tiling(job: JobSize, budget_bytes: int, dtype=None):
    """(tiling or None, working bytes): the largest tiles that fit ``budget_bytes``; None = untiled."""
    untiled = vae_decode_peak(job, None, dtype)
    if untiled <= budget_bytes:
        return None, untiled
    try:
        tiling = choose_tiling(budget_bytes, decoded_latent_frames(job), job.height, job.width, dtype or torch.float32)
    except RealisDanceError:  # not even the smallest tile fits this room; the planner tries another placement
        return None, untiled
    if tiling is None:
        return None, untiled
    return tiling, vae_decode_peak(job, tiling, dtype)
