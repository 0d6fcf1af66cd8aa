"""Umeyama similarity registration: known transforms, weights, reflections, degenerate input."""

from __future__ import annotations

import math

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import axis_angle_to_matrix
from realisdance.pose.umeyama import fit_similarity


def random_points(count=50, seed=0):
    return torch.randn(count, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_known_similarity_is_recovered():
    source = random_points()
    rotation = axis_angle_to_matrix(torch.tensor([0.4, -1.2, 2.0], dtype=torch.float64))
    target = 0.37 * source @ rotation.T + torch.tensor([1.0, -2.0, 3.5], dtype=torch.float64)
    found = fit_similarity(source, target)
    assert found.scale == pytest.approx(0.37, abs=1e-9)
    torch.testing.assert_close(found.rotation, rotation, atol=1e-9, rtol=0)
    torch.testing.assert_close(found.apply(source), target, atol=1e-9, rtol=0)
    rigid = fit_similarity(source, target, with_scale=False)
    assert rigid.scale == 1.0
    torch.testing.assert_close(rigid.rotation, rotation, atol=1e-9, rtol=0)  # rotation does not depend on scale


def test_weights_ignore_outliers():
    source = random_points()
    rotation = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 3], dtype=torch.float64))
    target = 2.0 * source @ rotation.T
    target[:5] += 10.0  # five wrong correspondences
    weights = torch.ones(50, dtype=torch.float64)
    weights[:5] = 0
    found = fit_similarity(source, target, weights)
    assert found.scale == pytest.approx(2.0, abs=1e-9)
    torch.testing.assert_close(found.rotation, rotation, atol=1e-9, rtol=0)


def test_a_mirrored_target_gives_the_best_proper_rotation():
    source = random_points(seed=1) * torch.tensor([3.0, 1.0, 0.3], dtype=torch.float64)  # distinct spreads
    mirrored = source * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    found = fit_similarity(source, mirrored)
    assert float(torch.det(found.rotation)) == pytest.approx(1.0, abs=1e-9)
    residual = (found.apply(source) - mirrored).square().sum()
    # No nearby rotation/scale does better (the constrained optimum), checked by random perturbations.
    generator = torch.Generator().manual_seed(2)
    for _ in range(50):
        tweak = axis_angle_to_matrix(0.05 * torch.randn(3, generator=generator, dtype=torch.float64))
        rotation = tweak @ found.rotation
        for scale in (found.scale * 0.97, found.scale, found.scale * 1.03):
            moved = scale * source @ rotation.T
            moved = moved + (mirrored.mean(0) - moved.mean(0))
            assert float((moved - mirrored).square().sum()) >= float(residual) - 1e-9


def test_degenerate_inputs_are_rejected():
    with pytest.raises(InputError, match="at least 3"):
        fit_similarity(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(InputError, match="coincide"):
        fit_similarity(torch.ones(10, 3), random_points(10))
    with pytest.raises(InputError, match="corresponding points"):
        fit_similarity(torch.zeros(10, 3), torch.zeros(9, 3))
