"""Axis-angle to rotation matrix (Rodrigues), batched and differentiable everywhere, including at zero."""

from __future__ import annotations

import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle vectors (angle = norm, in radians) to (..., 3, 3) rotation matrices.

    Uses R = I + a·[k]x + b·[k]x² with the *unnormalised* vector k, a = sin θ/θ and b = (1 − cos θ)/θ² =
    2 sin²(θ/2)/θ², and their Taylor series near θ = 0, so there is no division by a vanishing norm (shape
    fitting differentiates through rest poses, where most joints sit at exactly zero).
    """
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True).unsqueeze(-1)  # (..., 1, 1)
    small = theta2 < 1e-6
    # Keep the unused branch finite: torch.where still back-propagates through it, and 0/0 would poison grads.
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    half_sin = torch.sin(theta / 2.0)  # 1 - cos θ = 2 sin²(θ/2), without float32 cancellation at small θ
    b = torch.where(small, 0.5 - theta2 / 24.0, 2.0 * half_sin * half_sin / safe2)

    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * skew + b * (skew @ skew)
