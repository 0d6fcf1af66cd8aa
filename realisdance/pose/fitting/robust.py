"""Robust reprojection loss."""

from __future__ import annotations

import torch


def geman_mcclure(squared_residual: torch.Tensor, scale: float) -> torch.Tensor:
    """ρ(r²) = s² r² / (s² + r²): quadratic for r << s, saturating at s² for outliers (SMPLify's choice)."""
    scale2 = scale * scale
    return scale2 * squared_residual / (scale2 + squared_residual)
