"""Reference-shape fitting on synthetic data: keypoints and a silhouette rendered from known betas and pose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from pose_motion_clips import head_landmarks

from realisdance.errors import InputError
from realisdance.pose import SMPLXSequence, estimate_intrinsics, pose_smplx, project_points, rasterize_mesh
from realisdance.pose.fitting import ShapeFitOptions, fit_reference_shape
from realisdance.pose.fitting.body import pose_subset, subset_body
from realisdance.pose.keypoints import PersonKeypoints
from realisdance.pose.landmarks import LandmarkSet

WIDTH, HEIGHT = 192, 256
TRUE_BETAS = (1.5, -1.0, 1.2)  # procedural model: height, girth, leg length
FAST = {"iterations": 120, "max_vertices": 1200, "max_mask_pixels": 800}  # keeps each fit to a few seconds


def reference_pose(facing_params, betas=TRUE_BETAS):
    pose = torch.zeros(1, 63)
    pose[0, 15 * 3 + 2], pose[0, 16 * 3 + 2] = -1.0, 1.0  # arms lowered (left/right shoulder about z)
    pose[0, 3 * 3 + 0] = 0.3  # a bent left knee
    all_betas = torch.zeros(1, 10)
    all_betas[0, : len(betas)] = torch.tensor(betas)
    return facing_params(1, body_pose=pose).with_betas(all_betas)


def synthetic_reference(model, params, landmarks: LandmarkSet):
    """Keypoints (our own projection of the true joints/vertices) and the rasterized silhouette."""
    k = estimate_intrinsics(WIDTH, HEIGHT)
    out = pose_smplx(model, params)
    joints, vertices = out.joints[0], out.vertices[0]
    points = []
    for landmark in landmarks.all:  # positions computed here, independently of landmark_positions
        points.append(
            vertices[landmark.vertex] if landmark.vertex is not None else joints[list(landmark.joints)].mean(0)
        )
    pixels = project_points(torch.stack(points), k)[:, :2]
    keypoints = torch.cat([pixels, torch.ones(len(points), 1)], dim=-1)
    person = PersonKeypoints(keypoints[:18], torch.zeros(70, 3), keypoints[18:39], keypoints[39:], WIDTH, HEIGHT)
    mask = torch.isfinite(rasterize_mesh(vertices, model.faces, k, WIDTH, HEIGHT).depth)
    return person, mask, k


def initial_estimate(params, k) -> SMPLXSequence:
    """A GVHMR-like estimate of the reference: right pose and placement, mean shape."""
    return SMPLXSequence(params.with_betas(torch.zeros(10)), k[None], WIDTH, HEIGHT)


def joint_error(model, fitted, truth) -> float:
    return float((pose_smplx(model, fitted).joints - pose_smplx(model, truth).joints).norm(dim=-1).max())


def test_subset_posing_matches_full_posing(smplx_model, facing_params):
    params = reference_pose(facing_params)
    params = dataclasses.replace(params, left_hand_pose=torch.randn(1, 12), expression=torch.randn(1, 5))
    ids = torch.tensor([0, 17, 2000, 4000, 4413])
    full = pose_smplx(smplx_model, params)
    subset = pose_subset(subset_body(smplx_model, ids, 10), params)
    torch.testing.assert_close(subset.vertices, full.vertices[:, ids], atol=1e-5, rtol=0)
    torch.testing.assert_close(subset.joints, full.joints, atol=1e-5, rtol=0)


def test_betas_recovered_from_keypoints_and_mask(smplx_model, facing_params):
    truth = reference_pose(facing_params)
    landmarks = head_landmarks(smplx_model)
    person, mask, k = synthetic_reference(smplx_model, truth, landmarks)
    options = ShapeFitOptions(landmarks=landmarks, **FAST)
    result = fit_reference_shape(smplx_model, person, mask, initial=initial_estimate(truth, k), options=options)
    assert result.betas.shape == (10,)
    np.testing.assert_allclose(result.betas[:3].numpy(), TRUE_BETAS, atol=0.3)
    assert joint_error(smplx_model, result.params, truth) < 0.035  # metres, from 0.17 at the mean shape
    assert joint_error(smplx_model, truth.with_betas(torch.zeros(10)), truth) > 0.15
    assert result.keypoint_error_px < 1.0 and result.inside_fraction > 0.95
    assert result.losses[-1] < 0.1 * result.losses[0]


def test_fit_is_robust_to_noisy_keypoints_and_an_eroded_mask(smplx_model, facing_params):
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    truth = reference_pose(facing_params)
    landmarks = head_landmarks(smplx_model)
    person, mask, k = synthetic_reference(smplx_model, truth, landmarks)
    generator = torch.Generator().manual_seed(0)
    noisy = person.body.clone()
    noisy[:, :2] += 1.5 * torch.randn(18, 2, generator=generator)
    noisy[3, :2] += torch.tensor([40.0, -30.0])  # one gross outlier (a mis-detected elbow)
    person = dataclasses.replace(person, body=noisy)
    eroded = torch.from_numpy(scipy_ndimage.binary_erosion(mask.numpy(), iterations=1))
    options = ShapeFitOptions(landmarks=landmarks, **FAST)
    result = fit_reference_shape(smplx_model, person, eroded, initial=initial_estimate(truth, k), options=options)
    np.testing.assert_allclose(result.betas[:3].numpy(), TRUE_BETAS, atol=0.5)
    assert joint_error(smplx_model, result.params, truth) < 0.06


def test_without_initial_pose_the_body_is_placed(smplx_model, facing_params):
    truth = reference_pose(facing_params, betas=(0.0, 0.0, 1.0))
    landmarks = head_landmarks(smplx_model)
    person, mask, _ = synthetic_reference(smplx_model, truth, landmarks)
    options = ShapeFitOptions(landmarks=landmarks, **FAST)
    result = fit_reference_shape(smplx_model, person, mask, options=options)
    fitted = pose_smplx(smplx_model, result.params)
    true_pelvis = pose_smplx(smplx_model, truth).joints[0, 0]
    assert float((fitted.joints[0, 0] - true_pelvis).norm()) < 0.25  # depth is only known up to body size
    assert result.keypoint_error_px < 8.0  # from a T-pose: arms and knee are only roughly matched
    assert float(result.params.global_orient[0, 0]) == pytest.approx(float(truth.global_orient[0, 0]), abs=0.3)


def test_a_person_seen_from_behind_starts_turned_away(smplx_model, facing_params):
    from realisdance.pose.fitting.initial import FACING_AWAY, initial_orientation

    body = torch.zeros(18, 3)
    body[2] = torch.tensor([120.0, 50.0, 1.0])  # right shoulder right of the left one: the back is visible
    body[5] = torch.tensor([80.0, 50.0, 1.0])
    assert initial_orientation(body, 0.3).tolist() == pytest.approx(FACING_AWAY)


def test_fit_input_errors(smplx_model, facing_params):
    truth = reference_pose(facing_params)
    person, mask, k = synthetic_reference(smplx_model, truth, LandmarkSet())
    with pytest.raises(InputError, match="mask is 100x80"):
        fit_reference_shape(smplx_model, person, torch.ones(80, 100))
    with pytest.raises(InputError, match="empty"):
        fit_reference_shape(smplx_model, person, torch.zeros(HEIGHT, WIDTH))
    blind = dataclasses.replace(person, body=person.body * torch.tensor([1.0, 1.0, 0.0]))
    with pytest.raises(InputError, match="confidence"):
        fit_reference_shape(smplx_model, blind)
    other = SMPLXSequence(truth, estimate_intrinsics(300, 300)[None], 300, 300)
    with pytest.raises(InputError, match="same reference image"):
        fit_reference_shape(smplx_model, person, initial=other)
    with pytest.raises(InputError, match="negative"):
        ShapeFitOptions(inside_weight=-1.0)
