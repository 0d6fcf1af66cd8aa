"""Fit an SMPL-X motion to the whole-body keypoints of every frame of a driving video, all frames at once.

The release never shipped this step: its condition videos come from GVHMR (body) and HaMeR (hands). Here one batched
optimisation (Adam) over the clip finds, per frame, the global orientation, the 21 body joint rotations, both hands'
15 finger joints and the translation, with one shape for the whole clip, in the camera of the video (GVHMR's default
K, or a given field of view or K, or GVHMR's own when its result is the starting point):

    E = mean_f Σ_k w_fk ρ(‖Π(L_k(β, θ_f, t_f)) − x_fk‖² / s²) / mean Σ w      reprojection, Geman-McClure ρ
      + λ_pose mean‖θ_body‖² + λ_hand mean‖θ_hands‖²                             rest-pose priors (no licensed file)
      + λ_limit mean relu(±angle)² at knees and elbows                           bending the wrong way
      + λ_smooth mean‖θ_{f+1} − 2θ_f + θ_{f-1}‖² + λ_transl (same for t)          temporal smoothness (accel.)
      + λ_β ‖β‖²

Frames without a confident person, and hands without confident points, have no reprojection term: the temporal
terms bridge them from their neighbours. A first stage fits only orientation and translation. When a GVHMR result is
given, its motion and camera are the starting point and the fit refines them (and adds the hands).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ...errors import InputError
from ..body_model import SMPLXModel
from ..camera import estimate_intrinsics
from ..keypoints import PersonKeypoints
from ..landmarks import OPENPOSE18_HIPS, landmark_positions
from ..smplx_params import SMPLXParams, SMPLXSequence
from .body import pose_subset, project_in_front, renumber_vertex_landmarks, subset_body
from .initial import initial_orientation, solve_translation
from .motion_options import MotionFitOptions
from .robust import geman_mcclure

ProgressCallback = Callable[[int, int], None]
# (body_pose column, sign): the rotation components whose positive value after ``sign`` is a joint bending the wrong
# way: left / right elbow about y, left / right knee about x (SMPLify's angle prior, in body_pose columns).
WRONG_WAY_BENDS = ((52, 1.0), (55, -1.0), (9, -1.0), (12, -1.0))
BODY_POINTS = 18
HAND_POINTS = 21
FOOT_POINTS = 6
LOW_CONFIDENCE = 0.5  # fewer than half of the 18 body points detected confidently


@dataclass(frozen=True)
class FrameReport:
    """What the fit saw and achieved in one frame (for the QC preview and the node's summary)."""

    person: bool  # enough confident body points to be fitted (else bridged from its neighbours)
    left_hand: bool
    right_hand: bool
    error_px: float  # confidence-weighted mean reprojection error of the used points (nan without any)
    body_fraction: float = 1.0  # share of the 18 body points confidently detected (low: a partly seen body)

    @property
    def flags(self) -> list[str]:
        """What a QC reader should know about this frame: "no person", "low confidence" (under half the body
        points seen), "no left hand", "no right hand"."""
        if not self.person:
            return ["no person"]
        flags = ["low confidence"] if self.body_fraction < LOW_CONFIDENCE else []
        return flags + [name for name, seen in (("no left hand", self.left_hand), ("no right hand", self.right_hand))
                        if not seen]  # fmt: skip


@dataclass(frozen=True)
class MotionFitResult:
    sequence: SMPLXSequence  # camera-space motion, axis-angle hands (hand_pose_pca False), one shape for all frames
    betas: torch.Tensor  # (num_betas,)
    frames: tuple[FrameReport, ...]
    losses: tuple[float, ...]

    def flag_counts(self) -> dict[str, int]:
        """How many frames carry each flag."""
        counts: dict[str, int] = {}
        for report in self.frames:
            for flag in report.flags:
                counts[flag] = counts.get(flag, 0) + 1
        return counts

    @property
    def mean_error_px(self) -> float:
        errors = [f.error_px for f in self.frames if not math.isnan(f.error_px)]
        return sum(errors) / len(errors) if errors else math.nan


@dataclass
class _Clip:
    """The observations and the fixed parts of the problem."""

    targets: torch.Tensor  # (F, N, 2) pixels
    weights: torch.Tensor  # (F, N)
    intrinsics: torch.Tensor  # (F, 3, 3)
    scale: float
    width: int
    height: int
    person: torch.Tensor  # (F,) bool
    left: torch.Tensor
    right: torch.Tensor


def _observations(keypoints: Sequence[PersonKeypoints | None], options: MotionFitOptions):
    present = [points for points in keypoints if points is not None]
    if not present:
        raise InputError("No frame of the driving video has a detected person; the motion fit has nothing to fit.")
    width, height = present[0].width, present[0].height
    if any((p.width, p.height) != (width, height) for p in present):
        raise InputError("The keypoints of the driving video come from frames of different sizes.")
    count = BODY_POINTS + 2 * HAND_POINTS + FOOT_POINTS
    targets, confidence = torch.zeros(len(keypoints), count, 2), torch.zeros(len(keypoints), count)
    for index, points in enumerate(keypoints):
        if points is None:
            continue
        feet = points.feet if points.feet is not None else torch.zeros(FOOT_POINTS, 3)  # not every estimator gives feet
        parts = torch.cat([points.body, points.left_hand, points.right_hand, feet]).float()
        if parts.shape[0] != count:
            raise InputError(f"Frame {index} has {parts.shape[0]} body, hand and foot keypoints, expected {count}.")
        targets[index], confidence[index] = parts[:, :2], parts[:, 2]
    used = confidence >= options.min_confidence
    multiplier = torch.ones(count)
    multiplier[list(OPENPOSE18_HIPS)] = options.hip_weight
    multiplier[BODY_POINTS : BODY_POINTS + 2 * HAND_POINTS] = options.hand_weight
    multiplier[BODY_POINTS + 2 * HAND_POINTS :] = options.foot_weight
    weights = torch.where(used, confidence * multiplier, torch.zeros_like(confidence))
    person = used[:, :BODY_POINTS].sum(1) >= options.min_body_points
    weights[~person] = 0.0
    left = used[:, BODY_POINTS : BODY_POINTS + HAND_POINTS].sum(1) >= 3
    right = used[:, BODY_POINTS + HAND_POINTS : BODY_POINTS + 2 * HAND_POINTS].sum(1) >= 3
    if not bool(person.any()):
        raise InputError(
            f"No frame has {options.min_body_points} body keypoints with confidence >= {options.min_confidence}; "
            "check the pose estimator's output (is the person visible?) or lower min_confidence."
        )
    return targets, weights, person, left & person, right & person, width, height


def _camera(options, initial, intrinsics, frames, width, height) -> torch.Tensor:
    if initial is not None:
        return initial.intrinsics.float()
    if intrinsics is not None:
        k = torch.as_tensor(intrinsics, dtype=torch.float32)
        if tuple(k.shape) != (3, 3) or not bool(torch.isfinite(k).all()) or float(k[0, 0]) <= 0:
            raise InputError(f"Camera intrinsics must be a finite (3, 3) matrix with positive focal length, got {k}.")
    elif options.fov_degrees is not None:
        focal = math.hypot(width, height) / 2 / math.tan(math.radians(options.fov_degrees) / 2)
        k = torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    else:
        k = estimate_intrinsics(width, height)
    return k[None].expand(frames, 3, 3).clone()


def _fill_gaps(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Rows of ``values`` where ``known`` is False, linearly interpolated from the nearest known rows (held at the
    ends): a gap is bridged, not snapped."""
    index = known.nonzero()[:, 0]
    out = values.clone()
    for frame in range(values.shape[0]):
        if known[frame]:
            continue
        before, after = index[index < frame], index[index > frame]
        if len(before) and len(after):
            a, b = int(before[-1]), int(after[0])
            t = (frame - a) / (b - a)
            out[frame] = (1 - t) * values[a] + t * values[b]
        else:
            out[frame] = values[int(before[-1]) if len(before) else int(after[0])]
    return out


class _Motion(torch.nn.Module):
    """The optimised parameters of the clip."""

    def __init__(self, start: SMPLXParams, num_betas: int) -> None:
        super().__init__()
        frames = start.num_frames
        betas = torch.zeros(num_betas)
        given = min(num_betas, start.betas.shape[1])
        betas[:given] = start.betas.mean(0)[:given]
        self.betas = torch.nn.Parameter(betas)
        self.orient = torch.nn.Parameter(start.global_orient.clone())
        self.body = torch.nn.Parameter(start.body_pose.clone())
        self.transl = torch.nn.Parameter(start.transl.clone())
        self.left = torch.nn.Parameter(torch.zeros(frames, 45))
        self.right = torch.nn.Parameter(torch.zeros(frames, 45))

    def params(self) -> SMPLXParams:
        frames = self.orient.shape[0]
        return SMPLXParams(
            global_orient=self.orient,
            body_pose=self.body,
            betas=self.betas[None].expand(frames, -1),
            transl=self.transl,
            left_hand_pose=self.left,
            right_hand_pose=self.right,
            hand_pose_pca=False,
            flat_hand_mean=False,
        )


def fit_motion(
    model: SMPLXModel,
    keypoints: Sequence[PersonKeypoints | None],
    options: MotionFitOptions | None = None,
    initial: SMPLXSequence | None = None,
    intrinsics: torch.Tensor | None = None,
    fps: float | None = None,
    progress: ProgressCallback | None = None,
) -> MotionFitResult:
    """Fit SMPL-X to per-frame keypoints (None for a frame without a person); see the module docstring."""
    options = options or MotionFitOptions()
    targets, weights, person, left, right, width, height = _observations(keypoints, options)
    frames = len(keypoints)
    if initial is not None:
        if initial.num_frames != frames:
            raise InputError(f"The initial motion has {initial.num_frames} frames but the keypoints {frames}.")
        if (initial.width, initial.height) != (width, height):
            initial = initial.resized(width, height)
    model_f = model.to(dtype=torch.float32)
    landmarks, vertex_ids = renumber_vertex_landmarks(options.landmarks.with_feet, 0, model_f)
    body = subset_body(model_f, vertex_ids, min(options.num_betas, model_f.num_shape_coeffs))
    clip = _Clip(targets, weights, _camera(options, initial, intrinsics, frames, width, height),
                 float(max(width, height)), width, height, person, left, right)  # fmt: skip
    device = model_f.device

    def project(params: SMPLXParams) -> torch.Tensor:
        out = pose_subset(body, params)
        points = landmark_positions(landmarks, out.joints, out.vertices)
        return project_in_front(points, clip.intrinsics.to(device))

    start = initial.params.to(dtype=torch.float32) if initial is not None else _placement_start(body, landmarks, clip)
    motion = _Motion(start.to(device="cpu"), body.num_betas).to(device)
    losses: list[float] = []
    total = options.placement_iterations + options.iterations
    stages = ((options.placement_iterations, ("orient", "transl")), (options.iterations, None))
    if initial is not None:
        stages = ((options.placement_iterations + options.iterations, None),)
    done = 0
    for steps, names in stages:
        chosen = [p for n, p in motion.named_parameters() if names is None or n in names]
        optimiser = torch.optim.Adam(chosen, lr=options.learning_rate)
        # Adam's steps stay about lr long whatever the gradient, so without a decay it hovers around the minimum;
        # a cosine decay to 1 % lets it settle.
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(1, steps), options.learning_rate / 100)
        for _ in range(steps):
            optimiser.zero_grad()
            loss = _energy(motion, project, clip, options)
            loss.backward()
            optimiser.step()
            decay.step()
            losses.append(float(loss.detach()))
            done += 1
            if progress is not None:
                progress(done, total)

    with torch.no_grad():
        params = motion.params()
        pixels = project(params)
    report = _frame_reports(pixels.cpu(), clip)
    fitted = SMPLXParams(
        global_orient=params.global_orient.detach().cpu().clone(),
        body_pose=params.body_pose.detach().cpu().clone(),
        betas=params.betas.detach().cpu().clone(),
        transl=params.transl.detach().cpu().clone(),
        left_hand_pose=params.left_hand_pose.detach().cpu().clone(),
        right_hand_pose=params.right_hand_pose.detach().cpu().clone(),
        hand_pose_pca=False,
        flat_hand_mean=False,
    )
    sequence = SMPLXSequence(fitted, clip.intrinsics.cpu(), width, height, fps=fps, source="motion fit")
    return MotionFitResult(sequence, motion.betas.detach().cpu(), report, tuple(losses))


def _placement_start(body, landmarks, clip: _Clip) -> SMPLXParams:
    """Neutral body facing (or turned away from) the camera as the keypoints say, translated in closed form; frames
    without a person (or with degenerate keypoints) take their neighbours' placement."""
    frames = clip.targets.shape[0]
    orient, transl = torch.zeros(frames, 3), torch.zeros(frames, 3)
    placed = clip.person.clone()
    neutral = SMPLXParams(
        global_orient=torch.zeros(1, 3), body_pose=torch.zeros(1, 63), betas=torch.zeros(1, body.num_betas),
        transl=torch.zeros(1, 3),
    )  # fmt: skip
    for frame in range(frames):
        if not placed[frame]:
            continue
        targets, weights = clip.targets[frame, :BODY_POINTS], clip.weights[frame, :BODY_POINTS]
        orient[frame] = initial_orientation(torch.cat([targets, (weights > 0).float()[:, None]], -1), 0.5)
        with torch.no_grad():
            posed = pose_subset(body, dataclasses.replace(neutral, global_orient=orient[frame][None]))
            points = landmark_positions(landmarks[:BODY_POINTS], posed.joints, posed.vertices)[0]
        try:
            transl[frame] = solve_translation(points, targets, weights, clip.intrinsics[frame])
        except InputError:  # collinear points: leave it to the neighbours and the temporal terms
            placed[frame] = False
    if not bool(placed.any()):
        raise InputError("The keypoints do not determine where the body is in any frame; is the whole body visible?")
    return SMPLXParams(
        global_orient=_fill_gaps(orient, placed),
        body_pose=torch.zeros(frames, 63),
        betas=torch.zeros(frames, body.num_betas),
        transl=_fill_gaps(transl, placed),
    )


def _energy(motion: _Motion, project, clip: _Clip, options: MotionFitOptions) -> torch.Tensor:
    params = motion.params()
    pixels = project(params)
    squared = ((pixels - clip.targets.to(pixels.device)) / clip.scale).square().sum(-1)
    weights = clip.weights.to(pixels.device)
    energy = (weights * geman_mcclure(squared, options.robust_scale)).sum() / weights.sum().clamp(min=1e-8)
    energy = energy + options.pose_prior_weight * motion.body.square().mean()
    energy = energy + options.hand_prior_weight * (motion.left.square().mean() + motion.right.square().mean())
    bends = torch.stack([sign * motion.body[:, column] for column, sign in WRONG_WAY_BENDS], -1)
    energy = energy + options.limit_weight * torch.relu(bends).square().mean()
    if motion.orient.shape[0] > 2:  # acceleration, not velocity: steady motion costs nothing, gaps fill linearly
        rotations = torch.cat([motion.orient, motion.body, motion.left, motion.right], dim=1)
        energy = energy + options.smooth_weight * rotations.diff(n=2, dim=0).square().mean()
        energy = energy + options.translation_smooth_weight * motion.transl.diff(n=2, dim=0).square().mean()
    return energy + options.shape_prior_weight * motion.betas.square().sum()


def _frame_reports(pixels: torch.Tensor, clip: _Clip) -> tuple[FrameReport, ...]:
    errors = (pixels - clip.targets).norm(dim=-1)
    reports = []
    for frame in range(pixels.shape[0]):
        w = clip.weights[frame]
        error = float((w * errors[frame]).sum() / w.sum()) if float(w.sum()) > 0 else math.nan
        body = float((clip.weights[frame, :BODY_POINTS] > 0).float().mean())
        flags = (bool(clip.person[frame]), bool(clip.left[frame]), bool(clip.right[frame]))
        reports.append(FrameReport(*flags, error, body))
    return tuple(reports)
