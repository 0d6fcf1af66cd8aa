"""From a plain driving video (and the reference image) to the model's two pose-condition videos.

    DWPose on every frame -> one person per frame -> SMPL-X motion fit (body, hands, one shape)
    [DWPose on the reference -> reference shape fit -> the motion re-shaped to it (paper 3.3)]
    -> SMPL-CS and hand renders, plus the QC preview of the fit.

Only the files the pack already asks for are needed: SMPL-X (+ the SMPL-CS colour table) and the DWPose ONNX pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .conditions import HandGeometry, RenderOptions, render_pose_conditions
from .dwpose import DWPoseEstimator
from .dwpose.keypoints import pose_keypoint_video
from .fitting import ShapeFitOptions, fit_reference_shape
from .fitting.motion import MotionFitResult, fit_motion
from .fitting.motion_options import MotionFitOptions
from .fitting.motion_preview import motion_preview
from .hamer import load_hamer, load_mano_correspondence, mano_hand_mesh, register_hamer_hands
from .keypoints import clip_keypoints, person_keypoints
from .shape_transfer import transfer_shape
from .smplx_io import load_smplx
from .smplx_params import SMPLXSequence
from .vertex_colours import find_colour_table, load_vertex_colours

Report = Callable[[str], None]


@dataclass(frozen=True)
class PoseFromVideoResult:
    smpl_cs: torch.Tensor  # (F, H, W, 3) in [0, 1]
    hands: torch.Tensor
    preview: torch.Tensor  # QC: the fitted body over the driving frames
    fit: MotionFitResult
    reshaped: bool  # the motion carries the reference's fitted shape


def pose_conditions_from_video(
    frames: np.ndarray | torch.Tensor,
    fps: float,
    body_models: str | Path,
    dwpose: str | Path,
    reference: np.ndarray | torch.Tensor | None = None,
    motion_options: MotionFitOptions | None = None,
    render: RenderOptions | None = None,
    report: Report = print,
    initial: SMPLXSequence | None = None,
    hamer: str | Path | None = None,
) -> PoseFromVideoResult:
    """``frames`` (F, H, W, 3) uint8 or float in [0, 1]; ``reference`` (H, W, 3) likewise, optional; ``initial`` a
    GVHMR motion of the same video to start the fit from; ``hamer`` a HaMeR result of the same video, whose hands
    replace the fitted SMPL-X hands in the hand video (needs smplx/MANO_SMPLX_vertex_ids.pkl)."""
    model = load_smplx(body_models)
    colours = load_vertex_colours(find_colour_table(body_models), model.num_vertices)
    estimator = DWPoseEstimator.load(dwpose)
    report(f"DWPose on {len(frames)} frames ({estimator.provider})")
    keypoints = estimator.run(frames, draw=False).pose_keypoint
    people = clip_keypoints(keypoints)
    report("fitting SMPL-X to the keypoints of every frame")
    fit = fit_motion(model, people, motion_options, initial=initial, fps=fps)
    motion, reshaped = fit.sequence, False
    if reference is not None:
        image = reference[None] if reference.ndim == 3 else reference
        main = estimator.reference_keypoints(image)
        height, width = image.shape[1:3]
        points = person_keypoints(pose_keypoint_video([[main]], width, height, estimator.config.keypoint_threshold,
                                                      estimator.config.confidence))  # fmt: skip
        report("fitting the reference's body shape")
        shape = fit_reference_shape(model, points, options=ShapeFitOptions())
        motion, reshaped = transfer_shape(model, motion, shape.betas), True
    hands = None
    if hamer is not None:
        correspondence = load_mano_correspondence(body_models)
        detections = load_hamer(hamer)
        hands = HandGeometry(mano_hand_mesh(model, correspondence),
                             register_hamer_hands(model, motion, detections, correspondence))  # fmt: skip
    report("rendering the SMPL-CS and hand videos")
    videos = render_pose_conditions(model, motion, colours, render or RenderOptions(), hands)
    preview = motion_preview(model, fit, people, _as_float(frames))
    return PoseFromVideoResult(videos.smpl_cs, videos.hands, preview, fit, reshaped)


def _as_float(frames) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, torch.Tensor) else frames
    return tensor.float() / 255 if tensor.dtype == torch.uint8 else tensor.float()
