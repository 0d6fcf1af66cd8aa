"""Temporal smoothing of SMPL-X sequences: rotations as continuous quaternions, cuts respected."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import SMPLXSequence, axis_angle_to_matrix, estimate_intrinsics
from realisdance.pose.quaternions import axis_angle_to_quaternion, quaternion_to_axis_angle
from realisdance.pose.smoothing import SmoothingOptions, smooth_sequence

FRAMES = 40


def as_sequence(params) -> SMPLXSequence:
    return SMPLXSequence(params, estimate_intrinsics(64, 64)[None].repeat(params.num_frames, 1, 1), 64, 64)


def angle_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle between rotations given as (..., 3) axis-angle, through rotation matrices."""
    relative = axis_angle_to_matrix(a.double()).transpose(-1, -2) @ axis_angle_to_matrix(b.double())
    cosine = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.acos(cosine)


def moving_params(facing_params, frames=FRAMES):
    """A clean motion: every body joint turns at its own constant angular velocity, the root walks sideways."""
    t = torch.arange(frames, dtype=torch.float32)[:, None]
    generator = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(21, 3, generator=generator), dim=-1)
    speeds = 0.01 + 0.02 * torch.rand(21, 1, generator=generator)
    body_pose = (axes[None] * (0.2 + speeds[None] * t[..., None])).reshape(frames, 63)
    params = facing_params(frames, body_pose=body_pose)
    transl = params.transl + torch.cat([0.01 * t, torch.zeros(frames, 2)], dim=-1)
    return dataclasses.replace(params, transl=transl)


def test_quaternion_round_trip_matches_rotation_matrices():
    vectors = torch.cat([torch.randn(50, 3), torch.zeros(1, 3), torch.tensor([[math.pi - 1e-4, 0, 0]])])
    back = quaternion_to_axis_angle(axis_angle_to_quaternion(vectors))
    assert float(angle_between(vectors, back).max()) < 1e-3
    flipped = quaternion_to_axis_angle(-axis_angle_to_quaternion(vectors))  # -q is the same rotation
    assert float(angle_between(vectors, flipped).max()) < 1e-3


def test_jitter_is_reduced(facing_params):
    clean = moving_params(facing_params)
    generator = torch.Generator().manual_seed(1)
    noisy = dataclasses.replace(
        clean,
        body_pose=clean.body_pose + 0.05 * torch.randn(FRAMES, 63, generator=generator),
        transl=clean.transl + 0.02 * torch.randn(FRAMES, 3, generator=generator),
    )
    smoothed = smooth_sequence(as_sequence(noisy), SmoothingOptions(strength=2.0)).params
    assert smoothed.num_frames == FRAMES
    error_before = angle_between(noisy.body_pose.view(-1, 21, 3), clean.body_pose.view(-1, 21, 3)).mean()
    error_after = angle_between(smoothed.body_pose.view(-1, 21, 3), clean.body_pose.view(-1, 21, 3)).mean()
    assert error_after < 0.5 * error_before
    assert (smoothed.transl - clean.transl).norm(dim=-1).mean() < 0.5 * (noisy.transl - clean.transl).norm(
        dim=-1
    ).mean()
    assert (smoothed.betas == noisy.betas).all()


def test_a_clean_steady_motion_is_preserved(facing_params):
    clean = moving_params(facing_params)
    smoothed = smooth_sequence(as_sequence(clean), SmoothingOptions(strength=2.0)).params
    error = angle_between(smoothed.body_pose.view(-1, 21, 3), clean.body_pose.view(-1, 21, 3))
    assert float(error.max()) < 2e-3  # radians, ends included
    torch.testing.assert_close(smoothed.transl, clean.transl, atol=1e-5, rtol=0)
    assert smooth_sequence(as_sequence(clean), SmoothingOptions(strength=0.0)).params is clean


def test_rotation_through_pi_is_smoothed_without_flipping(facing_params):
    # The root turns through 180 degrees about y; axis-angle jumps from (pi - e) y to (pi - e') (-y) there.
    angles = torch.linspace(math.pi - 0.3, math.pi + 0.3, FRAMES)
    orient_q = torch.stack([torch.cos(angles / 2), 0 * angles, torch.sin(angles / 2), 0 * angles], dim=-1)
    orient = quaternion_to_axis_angle(orient_q)
    assert float(orient[0, 1]) > 0 > float(orient[-1, 1])  # the representation really flips
    params = dataclasses.replace(facing_params(FRAMES), global_orient=orient)
    options = SmoothingOptions(strength=2.0, cut_rotation_deg=None)
    smoothed = smooth_sequence(as_sequence(params), options).params.global_orient
    assert float(angle_between(smoothed, orient).max()) < 2e-3
    naive = torch.nn.functional.avg_pool1d(orient.T[None], 5, 1, 2, count_include_pad=False)[0].T
    assert float(angle_between(naive, orient).max()) > 0.5  # averaging axis-angle vectors would break here


def test_hard_cuts_are_not_blended(facing_params):
    params = facing_params(FRAMES)
    orient = params.global_orient.clone()
    orient[FRAMES // 2 :] = torch.tensor([0.0, 0.0, math.pi / 2])  # another shot from frame 20
    params = dataclasses.replace(params, global_orient=orient)
    kept = smooth_sequence(as_sequence(params), SmoothingOptions(strength=2.0)).params.global_orient
    assert float(angle_between(kept, orient).max()) < 1e-4
    blended = smooth_sequence(as_sequence(params), SmoothingOptions(strength=2.0, cut_rotation_deg=None))
    assert float(angle_between(blended.params.global_orient, orient).max()) > 0.3


def test_bad_options_are_rejected():
    with pytest.raises(InputError, match="strength"):
        SmoothingOptions(strength=-1)
    with pytest.raises(InputError, match="cut_translation"):
        SmoothingOptions(cut_translation=0.0)
    with pytest.raises(InputError, match="SMPL-X sequence"):
        smooth_sequence({"body_pose": torch.zeros(3, 63)})
