"""Training timesteps: uniform, and the paper's low-noise warmup (arXiv 2504.14977, eqs. 2-3), and its mirror.

Timesteps x lie in [0, T] (T = 1000; small x = little noise). At iteration i the warmup density is linear,

    p_i(x) = -f(i) x + (T / 2) f(i) + 1 / T,    f(i) = alpha * 2 (tau - i) / (tau T^2) for i <= tau, else 0,

so at i = 0 with alpha = 1 it falls from 2/T at x = 0 to 0 at x = T (low noise drawn most often) and it relaxes
linearly to the uniform density by iteration tau. It integrates to 1 for any f, and stays non-negative only for
alpha <= 1. The high-noise warmup (the paper's ablation) is the mirror image, x -> T - x. Draws use the inverse CDF:
F(x) = a x - b x^2 / 2 with b = f(i), a = b T / 2 + 1 / T, so x = (a - sqrt(a^2 - 2 b u)) / b for u ~ U(0, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError

NUM_TRAIN_TIMESTEPS = 1000
KINDS = ("uniform", "low-noise-warmup", "high-noise-warmup")


@dataclass(frozen=True)
class TimestepSchedule:
    kind: str = "low-noise-warmup"
    alpha: float = 1.0  # the warmup's strength at iteration 0 (1: density 2/T at the low end, 0 at the high end)
    tau: int = 1000  # iterations until the density is uniform
    total: float = float(NUM_TRAIN_TIMESTEPS)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"the timestep schedule must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if not (isinstance(self.alpha, int | float) and 0.0 <= self.alpha <= 1.0):
            raise InputError(
                f"the warmup alpha must be in [0, 1] (above 1 the density turns negative); got {self.alpha}"
            )
        if isinstance(self.tau, bool) or not isinstance(self.tau, int) or self.tau < 1:
            raise InputError(f"the warmup length tau must be a whole number of iterations >= 1; got {self.tau!r}")

    def slope(self, iteration: int) -> float:
        """f(i) of equation (3): the density's (negated) slope at ``iteration``; 0 for uniform and after tau."""
        if self.kind == "uniform" or iteration >= self.tau:
            return 0.0
        return self.alpha * 2.0 * (self.tau - iteration) / (self.tau * self.total**2)

    def density(self, x: torch.Tensor, iteration: int) -> torch.Tensor:
        """p_i(x) on [0, T] (float64), for tests and plots."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if self.kind == "high-noise-warmup":
            x = self.total - x
        b = self.slope(iteration)
        return -b * x + self.total / 2 * b + 1.0 / self.total

    def cdf(self, x: torch.Tensor, iteration: int) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        b = self.slope(iteration)
        a = b * self.total / 2 + 1.0 / self.total

        def low(y):
            return a * y - b * y * y / 2

        if self.kind == "high-noise-warmup":
            return 1.0 - low(self.total - x)
        return low(x)

    def sample(self, count: int, iteration: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` timesteps in [0, T] (float32) drawn from p_iteration."""
        u = torch.rand(count, generator=generator, dtype=torch.float64)
        b = self.slope(iteration)
        if b == 0.0:
            x = u * self.total
        else:
            a = b * self.total / 2 + 1.0 / self.total
            x = (a - torch.sqrt(torch.clamp(a * a - 2.0 * b * u, min=0.0))) / b
        if self.kind == "high-noise-warmup":
            x = self.total - x
        return x.clamp_(0.0, math.nextafter(self.total, 0.0)).float()
