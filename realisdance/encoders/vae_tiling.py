"""Tiled Wan 2.1 VAE encode/decode with a memory footprint that does not grow with the frame count.

Why not diffusers' own ``AutoencoderKLWan.enable_tiling``: its tiled paths do walk the frames causally with the
feature cache (one tile at a time, all frames), but they keep EVERY decoded tile in a list (about (tile/stride)^2
times the video) and then concatenate rows and the result, so their peak grows at several times the size of the video
per frame; enabling it also flips ``use_tiling`` on the shared module. Here each causal chunk of each tile is
blended straight into one preallocated float32 result, so the only thing that grows with frames is the result
itself, and nothing is left on the module (each tile gets its own local feature cache).

Blending: tiles are spread evenly (actual overlaps are at least the requested one) and weighted by linear ramps
across each overlap with a neighbour; the sum of weights is divided out, so any layout is exact where tiles agree.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from .vae_streaming import StreamingDecoder, StreamingEncoder
from .vae_tiles import SPATIAL_FACTOR, VaeTiling


@torch.no_grad()
def tiled_decode(vae, raw: torch.Tensor, tiling: VaeTiling) -> torch.Tensor:
    """Raw (denormalised) latent (B, 16, T, h, w) -> video (B, 3, 4(T-1)+1, 8h, 8w) in [-1, 1], float32.

    Each tile runs the decoder causally, one latent frame at a time, with its own feature cache (as diffusers'
    untiled decode does for the whole frame); its output is weighted and added into the result in place.
    """
    decoder = StreamingDecoder(vae, raw.shape[-2], raw.shape[-1], tiling)
    return decoder.decode(raw, last=True)


@torch.no_grad()
def tiled_encode(vae, video: torch.Tensor, tiling: VaeTiling) -> torch.Tensor:
    """Video (B, 3, 4k+1, H, W) in [-1, 1] -> raw posterior mode (B, 16, k+1, H/8, W/8), float32.

    Tiles are cut in pixels and blended in latent space; frames go through the encoder causally (the first alone,
    then groups of 4) with a feature cache per tile, as in diffusers' untiled encode.
    """
    encoder = StreamingEncoder(vae, video.shape[-2], video.shape[-1], tiling)
    latent = encoder.encode(video, last=True)
    encoder.finish()
    return latent


# -- memory planning -------------------------------------------------------------------------------------------

# Activation bytes per decoded pixel of one causal chunk (4 frames, feature cache full), for the real Wan 2.1
# decoder (base_dim 96): DECODE_ELEMENTS_PER_PIXEL elements in the VAE dtype plus DECODE_FLOAT32_BYTES_PER_PIXEL
# of float32 copies. Calibrated with benchmarks/vae_memory.py (live tensor bytes on the meta device): 19,487 B/px
# in fp32 and 10,128 B/px in bf16 at every size from 128x128 to 720x1280, so the work is linear in the pixel area
# (the mid-block attention matrix is freed before the full-resolution stages, which set the peak).
DECODE_ELEMENTS_PER_PIXEL = 4680
DECODE_FLOAT32_BYTES_PER_PIXEL = 768
# Smallest tile choose_tiling offers: below it seams multiply and the per-tile overhead dominates.
MIN_CHOSEN_TILE = 64
CHOICE_STEP = 32


def _decode_work_bytes(height: int, width: int, dtype: torch.dtype) -> int:
    itemsize = torch.empty((), dtype=dtype).element_size()
    return height * width * (DECODE_ELEMENTS_PER_PIXEL * itemsize + DECODE_FLOAT32_BYTES_PER_PIXEL)


def decode_peak_bytes(
    latent_frames: int, height: int, width: int, tiling: VaeTiling | None, dtype: torch.dtype = torch.float32
) -> int:
    """Predicted peak activation memory (bytes, weights excluded) of ``VideoVAE.decode`` for one video (batch 1).

    ``height``/``width`` are the decoded video's size in PIXELS (e.g. 576, 1024); ``dtype`` is the VAE's dtype.
    Untiled: the float32 result plus one full-frame causal chunk's working set (or three results during the final
    clamp/scale, whichever is larger). Tiled: the result, its weight map and one tile's working set, so beyond the
    result itself it is flat in frames.
    """
    frames = 1 + 4 * (latent_frames - 1)
    result = 3 * frames * height * width * 4
    latents = 2 * 16 * latent_frames * (height // SPATIAL_FACTOR) * (width // SPATIAL_FACTOR) * 4
    if tiling is None:
        return latents + max(result + _decode_work_bytes(height, width, dtype), 3 * result)
    tile_h, tile_w = min(tiling.tile, height), min(tiling.tile, width)
    return latents + result + height * width * 4 + _decode_work_bytes(tile_h, tile_w, dtype)


def default_overlap(tile: int) -> int:
    """A quarter of the tile, in whole latent pixels (at least one): 256 -> 64."""
    return max(SPATIAL_FACTOR, tile // 4 // SPATIAL_FACTOR * SPATIAL_FACTOR)


def choose_tiling(
    budget_bytes: int, latent_frames: int, height: int, width: int, dtype: torch.dtype = torch.float32
) -> VaeTiling | None:
    """None when the untiled decode fits ``budget_bytes``; else the largest tile (overlap a quarter) that fits.

    Sizes are in pixels, as for ``decode_peak_bytes``. Raises InputError when even the smallest tile does not fit.
    """
    if decode_peak_bytes(latent_frames, height, width, None, dtype) <= budget_bytes:
        return None
    largest = -(-max(height, width) // CHOICE_STEP) * CHOICE_STEP
    for tile in range(largest, MIN_CHOSEN_TILE - 1, -CHOICE_STEP):
        tiling = VaeTiling(tile, default_overlap(tile))
        if decode_peak_bytes(latent_frames, height, width, tiling, dtype) <= budget_bytes:
            return tiling
    smallest = VaeTiling(MIN_CHOSEN_TILE, default_overlap(MIN_CHOSEN_TILE))
    need = decode_peak_bytes(latent_frames, height, width, smallest, dtype)
    fitting = [
        frames
        for frames in range(latent_frames, 0, -1)
        if decode_peak_bytes(frames, height, width, smallest, dtype) <= budget_bytes
    ]
    gib = 2**30
    hint = (
        f"at this size at most {fitting[0]} latent frames ({1 + 4 * (fitting[0] - 1)} video frames) would fit"
        if fitting
        else "not even one frame fits at this size; decode at a smaller resolution"
    )
    raise InputError(
        f"decoding {latent_frames} latent frames at {height}x{width} needs {need / gib:.2f} GiB even with "
        f"{MIN_CHOSEN_TILE} px tiles but only {budget_bytes / gib:.2f} GiB is free; {hint}, or free memory"
    )
