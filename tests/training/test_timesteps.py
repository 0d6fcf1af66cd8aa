"""The training timestep schedules against the paper's density (eqs. 2-3): the draws follow it (Kolmogorov-Smirnov
against the analytic CDF, and a histogram), and it has the stated shape over the warmup."""

from __future__ import annotations

import pytest
import torch

from realisdance.errors import InputError
from realisdance.training.timesteps import TimestepSchedule

T = 1000.0
DRAWS = 200_000
KS_CRITICAL = 1.63 / DRAWS**0.5  # Kolmogorov-Smirnov at the 1 % level


def ks_statistic(samples: torch.Tensor, cdf) -> float:
    ordered = samples.double().sort().values
    n = ordered.numel()
    theoretical = cdf(ordered)
    above = torch.arange(1, n + 1, dtype=torch.float64) / n - theoretical
    below = theoretical - torch.arange(0, n, dtype=torch.float64) / n
    return float(torch.maximum(above, below).max())


def density_from_spec(x, iteration, alpha, tau, mirror=False):
    """Equations (2)-(3) written out independently of the module."""
    f = alpha * 2 * (tau - iteration) / (tau * T**2) if iteration <= tau else 0.0
    x = T - x if mirror else x
    return -f * x + T / 2 * f + 1 / T


@pytest.mark.parametrize("kind", ["uniform", "low-noise-warmup", "high-noise-warmup"])
@pytest.mark.parametrize("iteration", [0, 250, 999, 5000])
def test_draws_follow_the_density(kind, iteration):
    schedule = TimestepSchedule(kind, alpha=1.0, tau=1000)
    samples = schedule.sample(DRAWS, iteration, torch.Generator().manual_seed(iteration))
    assert samples.min() >= 0 and samples.max() < T
    assert ks_statistic(samples, lambda x: schedule.cdf(x, iteration)) < KS_CRITICAL
    # The histogram of the draws against the spec's density integrated over each bin.
    edges = torch.linspace(0, T, 11, dtype=torch.float64)
    counts = torch.histc(samples.double(), bins=10, min=0, max=T) / DRAWS
    mirror = kind == "high-noise-warmup"
    alpha = 0.0 if kind == "uniform" else 1.0
    mids = (edges[:-1] + edges[1:]) / 2
    expected = density_from_spec(mids, iteration, alpha, 1000, mirror) * (T / 10)  # linear: exact at the midpoint
    torch.testing.assert_close(counts, expected, atol=4e-3, rtol=0)


def test_the_density_is_the_papers_and_relaxes_to_uniform_by_tau():
    x = torch.linspace(0, T, 101, dtype=torch.float64)
    low = TimestepSchedule("low-noise-warmup", alpha=0.6, tau=400)
    for iteration in (0, 100, 399, 400, 1000):
        torch.testing.assert_close(low.density(x, iteration), density_from_spec(x, iteration, 0.6, 400))
        assert abs(float(torch.trapezoid(low.density(x, iteration), x)) - 1) < 1e-9  # a density
    start = TimestepSchedule("low-noise-warmup", alpha=1.0, tau=400)
    assert float(start.density(torch.tensor(0.0), 0)) == pytest.approx(2 / T)  # 2/T at the low-noise end
    assert float(start.density(torch.tensor(T), 0)) == pytest.approx(0, abs=1e-15)  # 0 at the high-noise end
    assert float(start.density(torch.tensor(T), 400)) == pytest.approx(1 / T)  # uniform from tau on
    high = TimestepSchedule("high-noise-warmup", alpha=1.0, tau=400)
    torch.testing.assert_close(high.density(x, 0), start.density(T - x, 0))


@pytest.mark.parametrize("bad", [{"alpha": 1.5}, {"alpha": -0.1}, {"tau": 0}, {"kind": "cosine"}])
def test_settings_that_are_no_density_are_refused(bad):
    with pytest.raises(InputError):
        TimestepSchedule(**bad)
