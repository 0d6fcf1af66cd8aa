"""The motion fit's QC preview: per driving frame, the fitted body's silhouette and keypoints over the frame, the
detected keypoints, the frame's reprojection error and its flags, so a bad fit shows before any GPU time is spent.

Colours: fitted silhouette green, fitted keypoints blue, detected keypoints red; text: error in px and the flags
("no person", "low confidence" (under half the body points seen), "no left hand", "no right hand").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..body_model import SMPLXModel
from ..camera import project_points
from ..keypoints import PersonKeypoints
from ..landmarks import LandmarkSet, landmark_positions
from ..posing import pose_smplx
from ..raster_torch import rasterize_mesh
from .motion import MotionFitResult

SILHOUETTE, FITTED, DETECTED = (0.1, 0.9, 0.2), (0.2, 0.4, 1.0), (1.0, 0.15, 0.1)
SILHOUETTE_ALPHA = 0.4
MIN_CONFIDENCE = 0.3


def _stamp(image: np.ndarray, points: np.ndarray, colour, radius: int) -> None:
    height, width = image.shape[:2]
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        cx, cy = int(round(x - 0.5)), int(round(y - 0.5))
        rows = slice(max(0, cy - radius), min(height, cy + radius + 1))
        image[rows, max(0, cx - radius) : min(width, cx + radius + 1)] = colour


def motion_preview(
    model: SMPLXModel,
    result: MotionFitResult,
    keypoints: Sequence[PersonKeypoints | None],
    frames: torch.Tensor | None = None,
    landmarks: LandmarkSet | None = None,
) -> torch.Tensor:
    """(F, H, W, 3) float in [0, 1] at the keypoints' canvas size; ``frames`` (F, h, w, 3) are the driving video's
    (resized to the canvas when their size differs), else the background is black."""
    landmarks = landmarks or LandmarkSet()
    sequence = result.sequence
    width, height = sequence.width, sequence.height
    count = sequence.num_frames
    if frames is not None:
        background = frames[:count].float().permute(0, 3, 1, 2)
        if tuple(background.shape[-2:]) != (height, width):
            background = F.interpolate(background, size=(height, width), mode="bilinear", align_corners=False)
        background = (0.55 * background.permute(0, 2, 3, 1)).clamp(0, 1)
    else:
        background = torch.zeros(count, height, width, 3)
    with torch.no_grad():
        posed = pose_smplx(model, sequence.params.to(device=model.device, dtype=model.dtype))
        points = landmark_positions(landmarks.with_feet, posed.joints, posed.vertices)
    out = []
    radius = max(1, round(max(width, height) / 300))
    for index in range(count):
        image = background[index].numpy().copy()
        k = sequence.intrinsics[index].to(posed.vertices)
        raster = rasterize_mesh(posed.vertices[index], model.faces, k, width, height)
        inside = torch.isfinite(raster.depth).cpu().numpy()
        image[inside] = (1 - SILHOUETTE_ALPHA) * image[inside] + SILHOUETTE_ALPHA * np.array(SILHOUETTE)
        detected = keypoints[index] if index < len(keypoints) else None
        if detected is not None:
            parts = torch.cat([detected.body, detected.left_hand, detected.right_hand,
                               *([detected.feet] if detected.feet is not None else [])])  # fmt: skip
            _stamp(image, parts[parts[:, 2] >= MIN_CONFIDENCE, :2].numpy(), DETECTED, radius)
        fitted = project_points(points[index], k)[:, :2].cpu().numpy()
        _stamp(image, fitted, FITTED, radius)
        report = result.frames[index]
        text = ", ".join(["" if math.isnan(report.error_px) else f"{report.error_px:.1f} px", *report.flags])
        scale = max(0.4, height / 700)
        image8 = (image.clip(0, 1) * 255).round().astype(np.uint8)  # OpenCV draws text on 8-bit images only
        cv2.putText(image8, text.strip(", "), (8, int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, round(scale * 1.5)), cv2.LINE_AA)  # fmt: skip
        out.append(torch.from_numpy(image8).float() / 255)
    return torch.stack(out).float()
