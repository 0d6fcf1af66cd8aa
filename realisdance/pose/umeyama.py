"""Least-squares similarity between corresponding point sets (Umeyama 1991), with proper rotations only.

Finds s, R, t minimising Σ wᵢ ‖s R xᵢ + t − yᵢ‖² with R a rotation (det +1). From the weighted centred
covariance Σ = Σ wᵢ (yᵢ − ȳ)(xᵢ − x̄)ᵀ / Σ wᵢ = U D Vᵀ: R = U S Vᵀ with S = diag(1, 1, det(U)det(V)), so a
reflection is never returned (for mirrored data the closest rotation is), s = tr(D S) / σₓ², t = ȳ − s R x̄.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError

MIN_SPREAD = 1e-12  # squared metres: points closer together than this cannot define a rotation


@dataclass(frozen=True)
class Similarity:
    """y ≈ scale · R x + translation. rotation (3, 3), translation (3,), scale float."""

    scale: float
    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """(..., N, 3) -> (..., N, 3)."""
        rotation = self.rotation.to(points)
        return self.scale * points @ rotation.T + self.translation.to(points)


def fit_similarity(
    source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None, with_scale: bool = True
) -> Similarity:
    """The similarity carrying (N, 3) ``source`` points onto their (N, 3) ``target`` counterparts."""
    if source.dim() != 2 or source.shape[-1] != 3 or source.shape != target.shape:
        raise InputError(
            f"Point registration needs two (N, 3) arrays of corresponding points, got {tuple(source.shape)} and "
            f"{tuple(target.shape)}."
        )
    if source.shape[0] < 3:
        raise InputError(f"Point registration needs at least 3 corresponding points, got {source.shape[0]}.")
    x, y = source.double(), target.double()
    w = torch.ones(x.shape[0], dtype=torch.float64) if weights is None else weights.double().reshape(-1)
    if w.shape[0] != x.shape[0] or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise InputError("Registration weights must be one non-negative value per point, not all zero.")
    w = w / w.sum()
    mean_x, mean_y = w @ x, w @ y
    xc, yc = x - mean_x, y - mean_y
    variance_x = float(w @ xc.square().sum(-1))
    if variance_x < MIN_SPREAD:
        raise InputError("The points to register all coincide; a rotation cannot be determined.")
    covariance = (yc * w[:, None]).T @ xc
    u, d, vh = torch.linalg.svd(covariance)
    signs = torch.ones(3, dtype=torch.float64)
    signs[2] = float(torch.sign(torch.det(u) * torch.det(vh))) or 1.0
    rotation = u @ torch.diag(signs) @ vh
    scale = float((d * signs).sum() / variance_x) if with_scale else 1.0
    translation = mean_y - scale * rotation @ mean_x
    return Similarity(scale=scale, rotation=rotation.to(source.dtype), translation=translation.to(source.dtype))
