"""Fréchet distance (FID / FVD's formula) against known values and an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realisdance.errors import InputError
from realisdance.evaluation.frechet import frechet_distance, load_feature_network


def test_one_dimensional_gaussians_give_the_closed_form():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.normal(1.0, 2.0, (200_000, 1)))
    b = torch.from_numpy(rng.normal(-0.5, 0.5, (200_000, 1)))
    # d^2 = (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2 for 1-D Gaussians
    assert frechet_distance(a, b) == pytest.approx(1.5**2 + 1.5**2, rel=1e-2)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_it_equals_the_trace_of_the_eigenvalue_square_roots_of_the_covariance_product():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
    fake = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) + 0.3
    mu_r, mu_g = real.mean(0), fake.mean(0)
    cov_r, cov_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    # Independent route: the eigenvalues of cov_r @ cov_g are real and non-negative; tr(sqrt) = sum of their roots.
    roots = np.sqrt(np.clip(np.linalg.eigvals(cov_r @ cov_g).real, 0, None)).sum()
    expected = ((mu_r - mu_g) ** 2).sum() + np.trace(cov_r) + np.trace(cov_g) - 2 * roots
    assert frechet_distance(torch.from_numpy(real), torch.from_numpy(fake)) == pytest.approx(expected, rel=1e-8)


def test_feature_networks_come_from_the_users_files(tmp_path):
    with pytest.raises(InputError, match="give --fid-network PATH"):
        load_feature_network(None, "FID", "--fid-network")
    with pytest.raises(InputError, match="does not exist"):
        load_feature_network(tmp_path / "inception.pt", "FID", "--fid-network")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a TorchScript module"):
        load_feature_network(tmp_path / "junk.pt", "FID", "--fid-network")
    scripted = torch.jit.script(torch.nn.Linear(4, 2))
    scripted.save(str(tmp_path / "net.pt"))
    network = load_feature_network(tmp_path / "net.pt", "FID", "--fid-network")
    assert network(torch.zeros(3, 4)).shape == (3, 2)
