"""PSNR / SSIM against direct formulas computed window by window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from realisdance.errors import InputError
from realisdance.evaluation import psnr, ssim


def naive_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 written out per window position with explicit weighted sums."""
    x = np.arange(11) - 5
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for f in range(a.shape[0]):
        for c in range(3):
            p, q = a[f, :, :, c], b[f, :, :, c]
            for i in range(p.shape[0] - 10):
                for j in range(p.shape[1] - 10):
                    u, v = p[i : i + 11, j : j + 11], q[i : i + 11, j : j + 11]
                    mu_u, mu_v = (w * u).sum(), (w * v).sum()
                    var_u, var_v = (w * (u - mu_u) ** 2).sum(), (w * (v - mu_v) ** 2).sum()
                    cov = (w * (u - mu_u) * (v - mu_v)).sum()
                    c1, c2 = 0.01**2, 0.03**2
                    values.append(
                        ((2 * mu_u * mu_v + c1) * (2 * cov + c2)) / ((mu_u**2 + mu_v**2 + c1) * (var_u + var_v + c2))
                    )
    return float(np.mean(values))


def test_ssim_and_psnr_match_the_formulas():
    rng = np.random.default_rng(0)
    a = rng.random((2, 16, 18, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(naive_ssim(a, b), abs=1e-9)
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / np.mean((a - b) ** 2)))
    assert ssim(a, a) == pytest.approx(1.0) and psnr(a, a) == math.inf
    noisier = np.clip(a + rng.normal(0, 0.3, a.shape), 0, 1)
    assert ssim(a, noisier) < ssim(a, b) and psnr(a, noisier) < psnr(a, b)


def test_mismatched_videos_are_refused():
    with pytest.raises(InputError, match="frames, height, width, 3"):
        ssim(np.zeros((1, 16, 16, 3)), np.zeros((2, 16, 16, 3)))
