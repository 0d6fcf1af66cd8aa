"""VAE tiling for the encode and decode stages of a node graph, from the device's free memory at that moment.

The decode uses ``encoders.vae_tiling``'s calibrated estimate. No encode estimate is calibrated yet, so the encodes
use the decode's tiling for the same video, as the planner assumes (the conditions stage fits wherever the decode
fits); the encoder's full-resolution stages are no wider than the decoder's.
"""

from __future__ import annotations

import torch

from .planner import MemoryOptions
from .sizes import JobSize
from .stages import choose_vae_tiling

SPATIAL = 8
CHOICE_STEP = 32
SMALLEST_TILE = 64


def _usable(free_bytes: int, weight_bytes: int) -> int:
    return free_bytes - weight_bytes - MemoryOptions().headroom(free_bytes)


def decode_room_needed(weight_bytes: int, latent_shape, dtype: torch.dtype) -> int:
    """Device bytes an untiled decode of ``latent_shape`` (B, 16, T, h, w) needs, weights and headroom included."""
    from ..encoders.vae_tiling import decode_peak_bytes

    batch, _, frames, height, width = latent_shape
    work = decode_peak_bytes(frames * batch, height * SPATIAL, width * SPATIAL, None, dtype)
    return weight_bytes + work + MemoryOptions().headroom(weight_bytes + work)


def decode_tiling(free_bytes: int | None, weight_bytes: int, latent_shape, dtype: torch.dtype):
    """None (untiled) when it fits or the device has no limit, else the largest tiles that fit the free memory.

    Batch items are counted as more frames (the result grows with them; the working set does not). Raises the
    tiler's InputError (naming what would fit) when even the smallest tiles do not fit.
    """
    from ..encoders.vae_tiling import choose_tiling

    if free_bytes is None:
        return None
    batch, _, frames, height, width = latent_shape
    return choose_tiling(_usable(free_bytes, weight_bytes), frames * batch, height * SPATIAL, width * SPATIAL, dtype)


def encode_room_needed(weight_bytes: int, job: JobSize, dtype: torch.dtype) -> int:
    """Device bytes the untiled encodes of ``job`` are assumed to need (the decode's), weights and headroom in."""
    from .stages import vae_decode_peak

    need = weight_bytes + vae_decode_peak(job, None, dtype)
    return need + MemoryOptions().headroom(need)


def encode_tiling(free_bytes: int | None, weight_bytes: int, job: JobSize, dtype: torch.dtype):
    """Tiling for encoding ``job``'s pose and grey videos: None when untiled fits (or no limit), else the decode's
    tiles for that room; None too when not even the smallest tile fits (the encode is then tried untiled)."""
    if free_bytes is None:
        return None
    tiling, _ = choose_vae_tiling(job, _usable(free_bytes, weight_bytes), dtype)
    return tiling


def smaller_tile(tiling, height: int, width: int) -> int | None:
    """A tile size to retry an out-of-memory decode with: half the current tile (or of the frame when untiled),
    in steps of 32 px; None when already at the smallest tile."""
    current = tiling.tile if tiling is not None else max(height, width)
    if current <= SMALLEST_TILE:
        return None
    return max(SMALLEST_TILE, current // 2 // CHOICE_STEP * CHOICE_STEP)
