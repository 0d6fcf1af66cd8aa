"""Synthetic driving clips with known motion for the motion fit (tests and benchmarks/motion_fit.py): the
procedural SMPL-X-sized body posed by a known motion (arm waves, a squat, a turn, a hand gesture), its landmarks
projected with a known camera, keypoint noise and dropped points; and PA-MPJPE."""

from __future__ import annotations

import math

import torch

from realisdance.pose import estimate_intrinsics, pose_smplx, project_points
from realisdance.pose.keypoints import PersonKeypoints
from realisdance.pose.landmarks import Landmark, LandmarkSet, landmark_positions
from realisdance.pose.smplx_params import SMPLXParams

KINDS = ("arm waves", "squat", "turn", "hand gesture")

WIDTH, HEIGHT, FRAMES = 256, 320, 12
BODY_JOINTS = list(range(22))  # root + 21 body joints


def head_landmarks(model) -> LandmarkSet:
    """The default table with nose and ears moved onto the procedural head (its real-SMPL-X ids are padding)."""
    head = (model.weights[:, 15] > 0.5).nonzero()[:, 0]
    rest = model.v_template[head]
    nose, right_ear, left_ear = (int(head[rest[:, axis].argmax() if sign > 0 else rest[:, axis].argmin()])
                                 for axis, sign in ((2, 1), (0, -1), (0, 1)))  # fmt: skip
    body = list(LandmarkSet().body)
    body[0], body[16], body[17] = Landmark(vertex=nose), Landmark(vertex=right_ear), Landmark(vertex=left_ear)
    return LandmarkSet(body=tuple(body))


def procedural_landmarks(model) -> LandmarkSet:
    """Every point the procedural mesh lacks moved onto it: nose and ears on the head, finger tips at the last
    finger joint, toes and heels on the foot joints and ankles (the real SMPL-X vertex ids are padding here)."""
    body = head_landmarks(model).body

    def joints_only(hand):
        return tuple(
            Landmark(joints=(hand[i - 1].joints[0],)) if p.vertex is not None else p for i, p in enumerate(hand)
        )

    feet = tuple(Landmark(joints=(j,)) for j in (10, 10, 7, 11, 11, 8))
    return LandmarkSet(body, joints_only(LandmarkSet().left_hand), joints_only(LandmarkSet().right_hand), feet)


def known_motion(kind: str, frames: int | None = None) -> SMPLXParams:
    count = frames or FRAMES
    t = torch.linspace(0, 1, count)
    body, orient = torch.zeros(count, 63), torch.tensor([[math.pi, 0.0, 0.0]]).repeat(count, 1)
    left, right = torch.zeros(count, 45), torch.zeros(count, 45)
    if kind == "arm waves":
        body[:, 15 * 3 + 2] = -1.2 + 0.8 * torch.sin(2 * math.pi * t)  # left shoulder about z
        body[:, 16 * 3 + 2] = 1.2 - 0.8 * torch.sin(2 * math.pi * t)
        body[:, 17 * 3 + 1] = -0.6 * t  # left elbow flexes (negative y is its natural direction)
    elif kind == "squat":
        body[:, 0 * 3], body[:, 1 * 3] = -1.0 * t, -1.0 * t  # hips flex
        body[:, 3 * 3], body[:, 4 * 3] = 1.6 * t, 1.6 * t  # knees flex
    elif kind == "turn":
        from scipy.spatial.transform import Rotation

        yaw = Rotation.from_rotvec(torch.stack([torch.zeros(count), 0.9 * t, torch.zeros(count)], -1).numpy())
        orient = torch.from_numpy((yaw * Rotation.from_rotvec(orient.numpy())).as_rotvec()).float()
        body[:, 15 * 3 + 2], body[:, 16 * 3 + 2] = -1.0, 1.0
    elif kind == "hand gesture":
        body[:, 15 * 3 + 2], body[:, 16 * 3 + 2] = -0.3, 0.3  # arms out so the hands are seen
        curl = 1.2 * t[:, None]
        for finger in range(5):  # every finger's three joints curl about z
            for joint in range(3):
                left[:, (finger * 3 + joint) * 3 + 2] = curl[:, 0] * (0.4 if finger == 4 else 1.0)
                right[:, (finger * 3 + joint) * 3 + 2] = -curl[:, 0] * (0.4 if finger == 4 else 1.0)
    betas = torch.zeros(count, 10)
    betas[:, :3] = torch.tensor([0.8, -0.5, 0.6])
    transl = torch.tensor([[0.05, -0.1, 3.0]]).repeat(count, 1)
    return SMPLXParams(orient, body, betas, transl, left, right, hand_pose_pca=False)


def synthetic_keypoints(model, truth, landmarks, noise_px=0.0, drop=0.0, seed=0, width=None, height=None):
    """Per-frame keypoints: our own projection of the true landmark positions, noise and dropped points."""
    g = torch.Generator().manual_seed(seed)
    width, height = width or WIDTH, height or HEIGHT
    k = estimate_intrinsics(width, height)
    out = pose_smplx(model, truth)
    frames = []
    for f in range(truth.num_frames):
        points = torch.stack([
            out.vertices[f, p.vertex] if p.vertex is not None else out.joints[f, list(p.joints)].mean(0)
            for p in landmarks.with_feet
        ])  # fmt: skip
        pixels = project_points(points, k)[:, :2] + noise_px * torch.randn(len(points), 2, generator=g)
        confidence = (torch.rand(len(points), generator=g) >= drop).float() * 0.9
        kp = torch.cat([pixels, confidence[:, None]], -1)
        frames.append(PersonKeypoints(kp[:18], torch.zeros(68, 3), kp[18:39], kp[39:60], width, height, kp[60:]))
    return frames


def procrustes_error(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-frame mean joint error after the best similarity transform (PA-MPJPE), metres."""
    errors = []
    for p, q in zip(predicted.double(), truth.double(), strict=True):
        p0, q0 = p - p.mean(0), q - q.mean(0)
        u, s, vt = torch.linalg.svd(p0.T @ q0)
        d = torch.sign(torch.linalg.det(u @ vt))
        fix = torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=torch.float64))
        rotation = u @ fix @ vt
        scale = (s * torch.diag(fix)).sum() / p0.square().sum()
        errors.append(((scale * p0 @ rotation) - q0).norm(dim=-1).mean())
    return torch.stack(errors).float()


def arm_wave_pose_keypoint(model, frames: int, width: int, height: int, empty_frame: int | None = None) -> list:
    """POSE_KEYPOINT of the body raising and lowering its arms, with the default landmarks (one person per frame,
    nobody in ``empty_frame``): what a pose estimator would give for such a clip."""
    t = torch.linspace(0, 1, frames)
    pose = torch.zeros(frames, 63)
    pose[:, 15 * 3 + 2], pose[:, 16 * 3 + 2] = -1.0 + 0.6 * t, 1.0 - 0.6 * t
    params = SMPLXParams(torch.tensor([[math.pi, 0.0, 0.0]]).repeat(frames, 1), pose, torch.zeros(frames, 10),
                         torch.tensor([[0.0, -0.1, 3.0]]).repeat(frames, 1))  # fmt: skip
    out = pose_smplx(model, params)
    points = landmark_positions(LandmarkSet().all, out.joints, out.vertices)
    pixels = project_points(points, estimate_intrinsics(width, height))[..., :2]
    video = []
    for f in range(frames):
        kp = torch.cat([pixels[f], torch.full((len(pixels[f]), 1), 0.9)], -1)
        person = {"pose_keypoints_2d": kp[:18].reshape(-1).tolist(),
                  "hand_left_keypoints_2d": kp[18:39].reshape(-1).tolist(),
                  "hand_right_keypoints_2d": kp[39:].reshape(-1).tolist()}  # fmt: skip
        video.append({"people": [] if f == empty_frame else [person], "canvas_width": width, "canvas_height": height})
    return video
