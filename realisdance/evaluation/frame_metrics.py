"""PSNR and SSIM between two videos of the same size, (F, H, W, 3) float in [0, 1].

SSIM follows Wang et al. 2004: an 11x11 Gaussian window (sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = 1,
population (co)variances, computed per colour channel over the window positions that lie wholly inside the frame,
averaged over positions, channels and frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError

WINDOW, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2


def _pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise InputError(f"videos to compare must both be (frames, height, width, 3), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")  # fmt: skip
    return a, b


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB over the whole video (inf when identical)."""
    a, b = _pair(a, b)
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _gaussian_window() -> torch.Tensor:
    x = torch.arange(WINDOW, dtype=torch.float64) - WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a, b) -> float:
    """Mean structural similarity (1 when identical)."""
    a, b = _pair(a, b)
    if min(a.shape[1:3]) < WINDOW:
        raise InputError(f"SSIM needs frames of at least {WINDOW}x{WINDOW} pixels")
    window = _gaussian_window()
    x = a.permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3])  # every channel of every frame as its own image
    y = b.permute(0, 3, 1, 2).reshape(-1, 1, *b.shape[1:3])

    def blur(t):
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + C1) * (2 * cov + C2)) / ((mu_x**2 + mu_y**2 + C1) * (var_x + var_y + C2))
    return float(index.mean())
