"""Peak device memory of the stages around the DiT: text encoder, CLIP and VAE decode."""

from __future__ import annotations

from .sizes import JobSize

# umT5-XXL on 512 tokens: hidden states, attention scores and the FFN hidden of one layer, float32, with slack.
TEXT_ACTIVATION_BYTES = 512 * (4096 * 8 + 10240 * 2 + 64 * 512 * 2) * 4
# CLIP ViT-H/14 at 224 px: 257 tokens, tiny next to its weights.
CLIP_ACTIVATION_BYTES = 257 * (1280 * 8 + 5120 * 2 + 16 * 257 * 2) * 4
# Untiled Wan 2.1 VAE decode working memory per output pixel of one frame (the decoder runs one latent frame at a
# time with a feature cache, so it does not grow with frames): ~5.6 GB at 480x832 and ~12.9 GB at 720x1280 as
# ComfyUI's estimate puts it (docs: ../shared/spec/field.md), i.e. about 14 kB per pixel.
UNTILED_DECODE_BYTES_PER_PIXEL = 14_000


def decoded_video_bytes(job: JobSize) -> int:
    """The decoded float32 video kept on the device until it is copied out."""
    return 3 * job.num_frames * job.height * job.width * 4


def vae_decode_peak(job: JobSize, tiling=None, dtype=None) -> int:
    """Working memory of decoding ``job``'s latent (weights excluded), tiled when ``tiling`` is given.

    Uses ``realisdance.encoders.vae_tiling.decode_peak_bytes`` when that helper exists, else the untiled estimate.
    """
    try:
        from ..encoders.vae_tiling import decode_peak_bytes
    except ImportError:
        return UNTILED_DECODE_BYTES_PER_PIXEL * job.height * job.width + decoded_video_bytes(job)
    import torch

    return int(decode_peak_bytes(job.latent_frames, job.height, job.width, tiling, dtype or torch.float32))


def choose_vae_tiling(job: JobSize, budget_bytes: int, dtype=None):
    """(tiling or None, working bytes): the largest tiles that fit ``budget_bytes``; None = untiled or no helper."""
    untiled = vae_decode_peak(job, None, dtype)
    if untiled <= budget_bytes:
        return None, untiled
    try:
        from ..encoders.vae_tiling import choose_tiling
    except ImportError:
        return None, untiled
    import torch

    from ..errors import RealisDanceError

    try:
        tiling = choose_tiling(budget_bytes, job.latent_frames, job.height, job.width, dtype or torch.float32)
    except RealisDanceError:  # not even the smallest tile fits this room; the planner tries another placement
        return None, untiled
    if tiling is None:
        return None, untiled
    return tiling, vae_decode_peak(job, tiling, dtype)
