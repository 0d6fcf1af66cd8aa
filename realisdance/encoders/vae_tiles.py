"""VAE tiles as geometry: the tiling setting, the tile spans over a latent grid and their blend weights (used by the
streaming coders and the tiled encode / decode alike)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..wan_constants import VAE_SPATIAL

SPATIAL_FACTOR = VAE_SPATIAL  # tiles and overlaps are whole latent pixels
MIN_TILE = 16  # two latent pixels: the smallest tile the encoder's stride-2 stages can still halve three times


@dataclass(frozen=True)
class VaeTiling:
    """Square spatial tiles of ``tile`` pixels overlapping by ``overlap`` pixels (both multiples of 8)."""

    tile: int
    overlap: int

    def __post_init__(self) -> None:
        for name in ("tile", "overlap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"VAE tiling {name} must be a whole number of pixels, got {value!r}")
        if self.tile < MIN_TILE or self.tile % SPATIAL_FACTOR:
            raise InputError(
                f"VAE tile size {self.tile} px is invalid: use a multiple of {SPATIAL_FACTOR} of at least {MIN_TILE} "
                "(e.g. 256)"
            )
        if self.overlap < 0 or self.overlap % SPATIAL_FACTOR:
            raise InputError(
                f"VAE tile overlap {self.overlap} px is invalid: use a multiple of {SPATIAL_FACTOR} (e.g. 64), or 0"
            )
        if self.overlap >= self.tile:
            raise InputError(
                f"VAE tile overlap {self.overlap} px must be smaller than the tile ({self.tile} px); e.g. a quarter"
            )

    @property
    def latent_tile(self) -> int:
        return self.tile // SPATIAL_FACTOR

    @property
    def latent_overlap(self) -> int:
        return self.overlap // SPATIAL_FACTOR


# -- layout ----------------------------------------------------------------------------------------------------


def tile_spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of tiles covering ``size`` with overlaps of at least ``overlap``, spread evenly."""
    if size <= tile:
        return [(0, size)]
    count = math.ceil((size - tile) / (tile - overlap)) + 1
    last = size - tile
    return [(round(index * last / (count - 1)), tile) for index in range(count)]


def _ramp_weights(spans: list[tuple[int, int]], scale: int) -> list[torch.Tensor]:
    """Per-tile 1-D weights (in units of ``scale`` pixels per span unit): linear ramps across each neighbour overlap.

    The ramps are (i + 0.5) / n, never zero, so every pixel has a positive total weight to divide by.
    """
    weights = []
    for index, (start, length) in enumerate(spans):
        weight = torch.ones(length * scale, dtype=torch.float64)
        if index > 0:
            prev_start, prev_length = spans[index - 1]
            shared = (prev_start + prev_length - start) * scale
            if shared > 0:
                weight[:shared] *= (torch.arange(shared, dtype=torch.float64) + 0.5) / shared
        if index + 1 < len(spans):
            shared = (start + length - spans[index + 1][0]) * scale
            if shared > 0:
                weight[-shared:] *= 1.0 - (torch.arange(shared, dtype=torch.float64) + 0.5) / shared
        weights.append(weight)
    return weights


def tile_weights(height: int, width: int, tiling: VaeTiling, scale: int):
    """Yield ((y, h), (x, w), 2-D float32 weight) per tile of a ``height`` x ``width`` latent grid; spans are in
    latent pixels and the weight covers the tile at ``scale`` output pixels per latent pixel."""
    rows = tile_spans(height, tiling.latent_tile, tiling.latent_overlap)
    cols = tile_spans(width, tiling.latent_tile, tiling.latent_overlap)
    row_weights, col_weights = _ramp_weights(rows, scale), _ramp_weights(cols, scale)
    for row, wy in zip(rows, row_weights, strict=True):
        for col, wx in zip(cols, col_weights, strict=True):
            yield row, col, (wy[:, None] * wx[None, :]).float()


# -- decode / encode -------------------------------------------------------------------------------------------
