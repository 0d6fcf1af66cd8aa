"""Replacing a driving sequence's betas keeps every frame's pelvis where it was."""

from __future__ import annotations

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import SMPLXSequence, estimate_intrinsics, pose_smplx
from realisdance.pose.shape_transfer import transfer_shape

FRAMES = 4


def driving_sequence(facing_params) -> SMPLXSequence:
    generator = torch.Generator().manual_seed(3)
    params = facing_params(FRAMES, body_pose=0.3 * torch.randn(FRAMES, 63, generator=generator))
    params = params.with_betas(0.5 * torch.randn(FRAMES, 10, generator=generator))  # per-frame estimates differ
    orient = params.global_orient + 0.6 * torch.randn(FRAMES, 3, generator=generator)  # the root rotates too
    params = type(params)(**{**params.__dict__, "global_orient": orient})
    return SMPLXSequence(params, estimate_intrinsics(64, 64)[None].repeat(FRAMES, 1, 1), 64, 64)


def test_pelvis_stays_and_bones_take_the_reference_lengths(smplx_model, facing_params):
    sequence = driving_sequence(facing_params)
    reference = torch.tensor([1.5, -1.0, 1.2, 0.3, 0, 0, 0, 0, 0, 0])
    moved = transfer_shape(smplx_model, sequence, reference)
    before, after = pose_smplx(smplx_model, sequence.params), pose_smplx(smplx_model, moved.params)
    torch.testing.assert_close(after.joints[:, 0], before.joints[:, 0], atol=1e-5, rtol=0)
    assert (moved.params.betas == reference).all()
    torch.testing.assert_close(moved.params.body_pose, sequence.params.body_pose, atol=0, rtol=0)
    torch.testing.assert_close(moved.params.global_orient, sequence.params.global_orient, atol=0, rtol=0)
    # Bone lengths now equal those of the reference body in its rest pose (rotations preserve lengths).
    rest = pose_smplx(smplx_model, sequence.params.select([0]).with_betas(reference)).joints[0]
    parents = smplx_model.parents.tolist()
    for child in (4, 7, 18, 20):  # knee, ankle, elbow, wrist
        expected = (rest[child] - rest[parents[child]]).norm()
        lengths = (after.joints[:, child] - after.joints[:, parents[child]]).norm(dim=-1)
        torch.testing.assert_close(lengths, expected.expand(FRAMES), atol=1e-5, rtol=0)
    # Without the correction the pelvis would have moved (the procedural beta 0 scales about the pelvis, so the
    # shift comes from the other directions; it must be visible for this test to mean anything).
    naive = pose_smplx(smplx_model, sequence.params.with_betas(reference)).joints[:, 0]
    assert float((naive - before.joints[:, 0]).norm(dim=-1).max()) > 1e-3


def test_bad_betas_are_rejected(smplx_model, facing_params):
    sequence = driving_sequence(facing_params)
    with pytest.raises(InputError, match="one shape vector"):
        transfer_shape(smplx_model, sequence, torch.zeros(2, 10))
    with pytest.raises(InputError, match="NaN"):
        transfer_shape(smplx_model, sequence, torch.full((10,), float("nan")))
    with pytest.raises(InputError, match="shape directions"):
        transfer_shape(smplx_model, sequence, torch.zeros(400))
