"""Fit the reference character's SMPL-X betas to its 2D keypoints and, optionally, its silhouette mask.

RealisDance's shape-aligned rendering (paper section 3.3): the driving motion is re-rendered with the
reference character's body shape. Energy, minimised with Adam (see :class:`~.options.ShapeFitOptions`):

    E = λ_kp Σ w c ρ(‖Π(landmark(β, θ)) − x‖²) / Σ w c + λ_in mean d_out(Π v)² + λ_cov mean d_cov(p)² + λ_β ‖β‖²
        (+ λ_θ ‖θ − θ₀‖² when the body pose is refined)

with ρ Geman-McClure, all distances in fractions of the image's longer side. Without an initial pose, the
orientation and translation are first fitted to the keypoints alone (betas at 0).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ...errors import InputError
from ..body_model import SMPLXModel
from ..camera import estimate_intrinsics
from ..keypoints import PersonKeypoints
from ..landmarks import OPENPOSE18_HIPS, Landmark, landmark_positions
from ..smplx_params import SMPLXParams, SMPLXSequence
from .body import SubsetBody, pose_subset, project_in_front, renumber_vertex_landmarks, subset_body
from .initial import initial_orientation, solve_translation
from .options import ShapeFitOptions
from .robust import geman_mcclure
from .silhouette import (
    SilhouetteTarget,
    coverage_distance,
    inside_distance,
    nearest_vertices,
    prepare_mask,
    silhouette_target,
)

ProgressCallback = Callable[[int, int], None]
ASPECT_TOLERANCE = 0.01
INSIDE_SLACK_PX = 0.5  # a vertex this close to the mask's edge counts as inside (for the reported fraction)


@dataclass(frozen=True)
class ShapeFitResult:
    """betas (num_betas,) the fitted shape; params the fitted reference frame (one frame); intrinsics (3, 3) of
    the width x height keypoint image; keypoint_error_px the confidence-weighted mean reprojection error of the
    used keypoints; inside_fraction the share of projected body vertices inside the mask (None without a
    mask); losses the energy per main-stage iteration."""

    betas: torch.Tensor
    params: SMPLXParams
    intrinsics: torch.Tensor
    width: int
    height: int
    keypoint_error_px: float
    inside_fraction: float | None
    losses: tuple[float, ...]


@dataclass
class _Problem:
    """Everything the energy needs, at the fit resolution."""

    body: SubsetBody  # the surface vertices used by the silhouette terms, then the landmark vertices
    surface_count: int
    landmarks: tuple[Landmark, ...]  # vertex landmarks renumbered into body.vertex_ids
    base: SMPLXParams  # one frame; hands, face and expression stay as given
    intrinsics: torch.Tensor
    targets: torch.Tensor  # (N, 2) keypoint pixels
    weights: torch.Tensor  # (N,) confidence x per-point weight, 0 for unused points
    scale: float  # the fit image's longer side in pixels
    silhouette: SilhouetteTarget | None
    options: ShapeFitOptions
    nearest: torch.Tensor | None = None  # cached coverage assignment
    steps: int = 0

    def posed(self, betas, orient, body_pose, transl):
        """Projected landmarks (N, 2) and projected surface vertices (n, 2)."""
        params = dataclasses.replace(
            self.base, betas=betas[None], global_orient=orient[None], body_pose=body_pose[None], transl=transl[None]
        )
        out = pose_subset(self.body, params)
        landmarks = landmark_positions(self.landmarks, out.joints, out.vertices)[0]
        surface = out.vertices[0, : self.surface_count]
        return project_in_front(landmarks, self.intrinsics), project_in_front(surface, self.intrinsics)

    def keypoint_term(self, landmark_pixels: torch.Tensor) -> torch.Tensor:
        squared = ((landmark_pixels - self.targets) / self.scale).square().sum(-1)
        robust = geman_mcclure(squared, self.options.robust_scale)
        return (self.weights * robust).sum() / self.weights.sum().clamp(min=1e-8)

    def silhouette_terms(self, vertex_pixels: torch.Tensor) -> torch.Tensor:
        if self.silhouette is None:
            return vertex_pixels.new_zeros(())
        opts = self.options
        inside = (inside_distance(self.silhouette, vertex_pixels) / self.scale).square().mean()
        tolerance = opts.coverage_tolerance * self.scale
        if self.nearest is None or self.steps % opts.coverage_refresh == 0:
            self.nearest = nearest_vertices(self.silhouette, vertex_pixels)
        self.steps += 1
        cover = coverage_distance(self.silhouette, vertex_pixels, tolerance, self.nearest)
        cover = (cover / self.scale).square().mean()
        return opts.inside_weight * inside + opts.coverage_weight * cover


def fit_reference_shape(
    model: SMPLXModel,
    keypoints: PersonKeypoints,
    mask: torch.Tensor | None = None,
    initial: SMPLXSequence | None = None,
    initial_frame: int = 0,
    intrinsics: torch.Tensor | None = None,
    options: ShapeFitOptions | None = None,
    progress: ProgressCallback | None = None,
) -> ShapeFitResult:
    """Fit betas to one reference image.

    keypoints: from :func:`~..keypoints.person_keypoints`. mask: the character's silhouette in the same image
    ((H, W) or (1, H, W), ComfyUI MASK), optional. initial: a GVHMR (or other) estimate of the reference image;
    frame ``initial_frame`` gives the starting pose, translation and camera (its K is rescaled when the image
    was resized with the same aspect ratio). Without it the camera is ``intrinsics`` or GVHMR's default for the
    image size. progress(done, total) is called every iteration and may raise to cancel.
    """
    options = options or ShapeFitOptions()
    width, height = keypoints.width, keypoints.height
    base, k_full = _starting_point(model, keypoints, initial, initial_frame, intrinsics, width, height, options)
    binary_mask = prepare_mask(mask, width, height) if mask is not None else None

    ratio = options.fit_size / max(width, height)
    fit_w, fit_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    k_fit = k_full.clone()
    k_fit[0] *= fit_w / width
    k_fit[1] *= fit_h / height
    fit_points = keypoints.scaled(fit_w, fit_h)
    targets, weights = _keypoint_targets(fit_points, options)
    if float(weights[: len(options.landmarks.body)].sum()) <= 0 and binary_mask is None:
        raise InputError(
            f"None of the reference body keypoints has confidence >= {options.min_confidence}; the fit has nothing "
            "to match. Check the pose estimator's output or lower min_confidence."
        )

    model_f = model.to(dtype=torch.float32)
    silhouette = (
        silhouette_target(binary_mask, fit_w, fit_h, options.max_mask_pixels) if binary_mask is not None else None
    )
    surface = _surface_vertices(model_f, options.max_vertices)
    landmarks, landmark_vertices = renumber_vertex_landmarks(options.landmarks.all, surface.numel(), model_f)
    problem = _Problem(
        body=subset_body(model_f, torch.cat([surface, landmark_vertices]), base.betas.shape[1]),
        surface_count=surface.numel(),
        landmarks=landmarks,
        base=base,
        intrinsics=k_fit.to(device=model_f.device),
        targets=targets.to(device=model_f.device),
        weights=weights.to(device=model_f.device),
        scale=float(max(fit_w, fit_h)),
        silhouette=silhouette,
        options=options,
    )
    refine_pose = options.refine_body_pose if options.refine_body_pose is not None else initial is None

    betas = base.betas[0].clone()
    orient, body_pose, transl = base.global_orient[0].clone(), base.body_pose[0].clone(), base.transl[0].clone()
    if initial is None:
        transl = _initial_translation(problem, betas, orient, body_pose, fit_points, options)
        orient, transl = _fit_placement(problem, betas, orient, body_pose, transl, options.init_iterations)
    fitted_values = _fit_shape(problem, betas, orient, body_pose, transl, refine_pose, progress)
    betas, orient, body_pose, transl, losses = fitted_values

    with torch.no_grad():
        landmark_px, vertex_px = problem.posed(betas, orient, body_pose, transl)
        keypoint_error = _keypoint_error(landmark_px, problem, width / fit_w)
        inside = None
        if silhouette is not None:
            inside = float((inside_distance(silhouette, vertex_px) <= INSIDE_SLACK_PX).float().mean())
    fitted = dataclasses.replace(
        base, betas=betas[None], global_orient=orient[None], body_pose=body_pose[None], transl=transl[None]
    ).to(device="cpu")
    return ShapeFitResult(
        betas=betas.detach().cpu(),
        params=fitted,
        intrinsics=k_full.cpu(),
        width=width,
        height=height,
        keypoint_error_px=keypoint_error,
        inside_fraction=inside,
        losses=tuple(losses),
    )


def _starting_point(model, keypoints, initial, frame, intrinsics, width, height, options):
    """The one-frame starting parameters (betas resized to num_betas) and the full-resolution camera."""
    num_betas = min(options.num_betas, model.num_shape_coeffs)
    if initial is not None:
        if not -initial.num_frames <= frame < initial.num_frames:
            raise InputError(f"Initial frame {frame} requested but the initial sequence has {initial.num_frames}.")
        start = initial.select([frame % initial.num_frames])
        if (start.width, start.height) != (width, height):
            if abs((start.width / start.height) / (width / height) - 1) > ASPECT_TOLERANCE:
                raise InputError(
                    f"The initial pose belongs to a {start.width}x{start.height} image but the keypoints to a "
                    f"{width}x{height} one; estimate both from the same reference image."
                )
            start = start.resized(width, height)
        params = start.params.to(dtype=torch.float32)
        betas = torch.zeros(1, num_betas)
        given = min(num_betas, params.betas.shape[1])
        betas[:, :given] = params.betas[:, :given]
        return dataclasses.replace(params, betas=betas).to(device=model.device), start.intrinsics[0].float()
    k = intrinsics if intrinsics is not None else estimate_intrinsics(width, height)
    k = torch.as_tensor(k, dtype=torch.float32)
    if tuple(k.shape) != (3, 3) or not bool(torch.isfinite(k).all()) or float(k[0, 0]) <= 0:
        raise InputError(f"Camera intrinsics must be a finite (3, 3) matrix with positive focal length, got {k}.")
    params = SMPLXParams(
        global_orient=initial_orientation(keypoints.body, options.min_confidence)[None],
        body_pose=torch.zeros(1, 63),
        betas=torch.zeros(1, num_betas),
        transl=torch.zeros(1, 3),
    )
    return params.to(device=model.device), k


def _keypoint_targets(points: PersonKeypoints, options: ShapeFitOptions) -> tuple[torch.Tensor, torch.Tensor]:
    parts = torch.cat([points.body, points.left_hand, points.right_hand])
    multiplier = torch.ones(parts.shape[0])
    multiplier[list(OPENPOSE18_HIPS)] = options.hip_weight
    multiplier[len(points.body) :] = options.hand_weight
    confidence = parts[:, 2]
    weights = torch.where(confidence >= options.min_confidence, confidence * multiplier, torch.zeros_like(confidence))
    if parts.shape[0] != len(options.landmarks.all):
        raise InputError(f"{parts.shape[0]} keypoints but {len(options.landmarks.all)} landmarks are defined.")
    return parts[:, :2].clone(), weights


def _surface_vertices(model: SMPLXModel, limit: int) -> torch.Tensor:
    """Vertices of non-degenerate faces (padding vertices of a mesh are in none), evenly thinned to ``limit``."""
    faces = model.faces
    proper = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    ids = torch.unique(faces[proper])
    if ids.numel() > limit:
        ids = ids[torch.linspace(0, ids.numel() - 1, limit).round().long().to(ids.device)]
    return ids


def _initial_translation(problem, betas, orient, body_pose, fit_points, options) -> torch.Tensor:
    with torch.no_grad():
        params = dataclasses.replace(
            problem.base, betas=betas[None], global_orient=orient[None], body_pose=body_pose[None]
        )
        out = pose_subset(problem.body, dataclasses.replace(params, transl=torch.zeros_like(params.transl)))
        body = problem.landmarks[: len(options.landmarks.body)]
        points = landmark_positions(body, out.joints, out.vertices)[0]
    weights = problem.weights[: len(body)]
    return solve_translation(points.cpu(), problem.targets[: len(body)].cpu(), weights.cpu(), problem.intrinsics.cpu())


def _fit_placement(problem, betas, orient, body_pose, transl, iterations):
    """Orientation and translation only, keypoints only: puts the neutral body where the person is."""
    orient = orient.to(problem.body.v_template.device).clone().requires_grad_(True)
    transl = transl.to(problem.body.v_template.device).clone().requires_grad_(True)
    lr = problem.options.learning_rate
    optimizer = torch.optim.Adam([{"params": [orient], "lr": 0.4 * lr}, {"params": [transl], "lr": 0.2 * lr}])
    for _ in range(iterations):
        optimizer.zero_grad()
        landmark_px, _ = problem.posed(betas, orient, body_pose, transl)
        problem.keypoint_term(landmark_px).backward()
        optimizer.step()
    return orient.detach(), transl.detach()


def _fit_shape(problem, betas, orient, body_pose, transl, refine_pose, progress):
    opts = problem.options
    device = problem.body.v_template.device
    betas = betas.to(device).clone().requires_grad_(True)
    orient = orient.to(device).clone().requires_grad_(True)
    start_pose = body_pose.to(device)
    pose_delta = torch.zeros_like(start_pose).requires_grad_(refine_pose)
    depth = transl[2:].to(device).clone().requires_grad_(opts.refine_depth)
    shift = transl[:2].to(device).clone().requires_grad_(True)
    lr = opts.learning_rate
    groups = [
        {"params": [betas], "lr": lr},
        {"params": [orient], "lr": 0.2 * lr},
        {"params": [shift], "lr": 0.05 * lr},
    ]
    if opts.refine_depth:
        groups.append({"params": [depth], "lr": 0.05 * lr})
    if refine_pose:
        groups.append({"params": [pose_delta], "lr": 0.4 * lr})
    optimizer = torch.optim.Adam(groups)
    # Cosine decay: large steps to find the basin, small ones to settle in it.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(opts.iterations, 1)))
    )
    losses = []
    for step in range(opts.iterations):
        optimizer.zero_grad()
        landmark_px, vertex_px = problem.posed(betas, orient, start_pose + pose_delta, torch.cat([shift, depth]))
        loss = opts.keypoint_weight * problem.keypoint_term(landmark_px) + problem.silhouette_terms(vertex_px)
        loss = loss + opts.beta_prior_weight * betas.square().sum()
        if refine_pose:
            loss = loss + opts.pose_prior_weight * pose_delta.square().sum()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, opts.iterations)
    transl = torch.cat([shift, depth]).detach()
    return betas.detach(), orient.detach(), (start_pose + pose_delta).detach(), transl, losses


def _keypoint_error(landmark_px: torch.Tensor, problem: _Problem, to_full: float) -> float:
    used = problem.weights > 0
    if not bool(used.any()):
        return float("nan")
    distance = (landmark_px[used] - problem.targets[used]).norm(dim=-1) * to_full
    weights = problem.weights[used]
    return float((distance * weights).sum() / weights.sum())
