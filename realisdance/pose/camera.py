"""Pinhole camera helpers in the OpenCV convention (x right, y down, z forward; K maps to pixels).

Pixel (i, j) covers [i, i+1) x [j, j+1) of K's image coordinates, so its centre is at (i + 0.5, j + 0.5): the
convention of GVHMR's K (principal point (w/2, h/2)) and of the pytorch3d renderer RealisDance used.
"""

from __future__ import annotations

import math

import torch


def estimate_intrinsics(width: int, height: int) -> torch.Tensor:
    """GVHMR's default camera: focal length = image diagonal (53° diagonal FOV), principal point at the centre."""
    focal = math.hypot(width, height)
    return torch.tensor([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def project_points(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(..., N, 3) camera-space points and (..., 3, 3) K -> (..., N, 3): pixel x, pixel y and depth z.

    Points at z <= 0 give meaningless pixels; callers drop them (the rasterizer clips at its near plane).
    """
    projected = points @ intrinsics.transpose(-1, -2)
    z = points[..., 2:3]
    return torch.cat([projected[..., :2] / z, z], dim=-1)
