"""What a rasterizer returns: per-pixel attributes and depth (shared by the backends and their interface)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RasterImage:
    """attributes (H, W, C) interpolated at pixel centres, zero where no triangle covers the pixel; depth (H, W)
    camera-space z of the nearest surface, +inf where empty."""

    attributes: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool: pixels covered by the mesh."""
        # depth < inf rather than isfinite: the same for depths (never NaN or -inf) and far cheaper on CPU.
        return self.depth < float("inf")
