"""Silhouette terms without a differentiable rasterizer: a distance transform and a chamfer to the mask.

* inside: the distance transform of the mask's *outside* (0 inside, distance to the nearest mask pixel
  outside) sampled bilinearly at every projected vertex; the true body projects entirely inside its mask.
* coverage: for sampled mask pixels, the distance to the nearest projected vertex beyond a small tolerance
  (vertices are discrete), so the body is pushed to fill the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError

EDGE_OFFSET_PX = 0.5


@dataclass(frozen=True)
class SilhouetteTarget:
    """outside_distance (H, W) pixels to the nearest mask pixel (0 inside); mask_points (N, 2) pixel centres."""

    outside_distance: torch.Tensor
    mask_points: torch.Tensor

    @property
    def width(self) -> int:
        return int(self.outside_distance.shape[1])

    @property
    def height(self) -> int:
        return int(self.outside_distance.shape[0])


def prepare_mask(mask: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """A ComfyUI MASK ((H, W) or (1, H, W), values in [0, 1]) checked against the image size -> (H, W) bool."""
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    if mask.dim() == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.dim() != 2:
        raise InputError(f"The reference mask must be one (H, W) mask, got shape {tuple(mask.shape)}.")
    if tuple(mask.shape) != (height, width):
        raise InputError(
            f"The reference mask is {mask.shape[1]}x{mask.shape[0]} but the keypoints belong to a {width}x{height} "
            "image; make the mask from the same (equally resized) reference image."
        )
    binary = mask.detach().float().cpu() > 0.5
    if not bool(binary.any()):
        raise InputError("The reference mask is empty; it must cover the character (white on black).")
    return binary


def silhouette_target(mask: torch.Tensor, fit_width: int, fit_height: int, max_points: int) -> SilhouetteTarget:
    """Resample an (H, W) bool mask to the fit resolution and precompute the distance transform and samples."""
    import cv2  # opencv is a runtime requirement; imported here so the rest of the package does not need it

    small = F.interpolate(mask[None, None].float(), size=(fit_height, fit_width), mode="area")[0, 0] >= 0.5
    if not bool(small.any()):  # a sliver that vanished when downsampled
        small = F.interpolate(mask[None, None].float(), size=(fit_height, fit_width), mode="area")[0, 0] > 0
    outside = (~small).numpy().astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    rows, cols = small.nonzero(as_tuple=True)
    if rows.numel() > max_points:  # an even spread, deterministic (row-major order covers the whole mask)
        keep = torch.linspace(0, rows.numel() - 1, max_points).round().long()
        rows, cols = rows[keep], cols[keep]
    points = torch.stack([cols.float() + 0.5, rows.float() + 0.5], dim=-1)
    return SilhouetteTarget(outside_distance=torch.from_numpy(distance).float(), mask_points=points)


def inside_distance(target: SilhouetteTarget, pixels: torch.Tensor) -> torch.Tensor:
    """(N, 2) projected pixels -> (N,) distance (pixels) to the mask's edge; 0 inside.

    The transform measures to the nearest mask pixel *centre*; the silhouette's edge lies half a pixel further
    out, so half a pixel is taken off. Points beyond the image add their overshoot.
    """
    width, height = target.width, target.height
    limit = torch.tensor([width, height], dtype=pixels.dtype, device=pixels.device)
    clamped = torch.minimum(torch.maximum(pixels, torch.zeros_like(limit)), limit)
    overshoot = (pixels - clamped).norm(dim=-1)
    grid = (2.0 * clamped / limit - 1.0).view(1, 1, -1, 2)  # align_corners=False: -1 is pixel 0's left edge
    field = target.outside_distance.to(pixels)[None, None]
    sampled = F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (sampled.view(-1) - EDGE_OFFSET_PX).clamp(min=0.0) + overshoot


def nearest_vertices(target: SilhouetteTarget, pixels: torch.Tensor) -> torch.Tensor:
    """(M,) index of the projected vertex nearest to each sampled mask pixel (no gradient needed for the choice)."""
    with torch.no_grad():
        points = target.mask_points.to(pixels)
        squared = (points.square().sum(-1, keepdim=True) - 2 * points @ pixels.T) + pixels.square().sum(-1)
        return squared.argmin(dim=1)


def coverage_distance(
    target: SilhouetteTarget, pixels: torch.Tensor, tolerance: float, nearest: torch.Tensor | None = None
) -> torch.Tensor:
    """(M,) distance (pixels) from each sampled mask pixel to its nearest projected vertex, minus ``tolerance``.

    nearest: a recent :func:`nearest_vertices` result to reuse (the assignment changes slowly during a fit).
    """
    if nearest is None:
        nearest = nearest_vertices(target, pixels)
    distance = (target.mask_points.to(pixels) - pixels[nearest]).norm(dim=-1)
    return (distance - tolerance).clamp(min=0.0)
