"""The standard coloured OpenPose skeleton on black, as drawn by the ControlNet / DWPose annotators.

Body: 17 limbs as filled ellipses (half-width 4 px) in the 18 standard colours dimmed to 60 %, then each keypoint
as a radius-4 dot in its full colour. Hands: 20 bones as 2-px lines coloured around the HSV hue circle (bone i of
20 has hue i/20), then radius-4 blue dots. Face: radius-3 white dots. Drawn person by person: body, hands, face.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from ...errors import InputError
from .keypoints import OpenPosePerson, people_from_frame

# OpenPose-18 limbs (0-based keypoint pairs) in drawing order; limb i uses BODY_COLOURS[i].
BODY_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
BODY_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
LIMB_DIMMING = 0.6
LIMB_HALF_WIDTH = 4
BODY_DOT_RADIUS = 4
# 21-point hand: wrist 0, then four joints per finger (thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky 17-20).
HAND_BONES = tuple((0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4))
HAND_LINE_WIDTH = 2
HAND_DOT_RADIUS = 4
HAND_DOT_COLOUR = (0, 0, 255)
FACE_DOT_RADIUS = 3
FACE_DOT_COLOUR = (255, 255, 255)


def hand_bone_colour(index: int) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(index / len(HAND_BONES), 1.0, 1.0)
    return round(red * 255), round(green * 255), round(blue * 255)


def draw_person(canvas: np.ndarray, person: OpenPosePerson, body: bool, hands: bool, face: bool) -> None:
    """Draw one person onto a uint8 RGB canvas in place (points with score 0 are skipped)."""
    if body:
        _draw_body(canvas, person.body)
    if hands:
        _draw_hand(canvas, person.left_hand)
        _draw_hand(canvas, person.right_hand)
    if face:
        for x, y, score in person.face:
            if score > 0:
                cv2.circle(canvas, (int(x), int(y)), FACE_DOT_RADIUS, FACE_DOT_COLOUR, thickness=-1)


def _draw_body(canvas: np.ndarray, points: np.ndarray) -> None:
    for (a, b), colour in zip(BODY_LIMBS, BODY_COLOURS, strict=False):
        if points[a, 2] <= 0 or points[b, 2] <= 0:
            continue
        (xa, ya), (xb, yb) = points[a, :2], points[b, :2]
        centre = (int((xa + xb) / 2), int((ya + yb) / 2))
        half_length = int(math.hypot(xb - xa, yb - ya) / 2)
        angle = int(math.degrees(math.atan2(ya - yb, xa - xb)))
        polygon = cv2.ellipse2Poly(centre, (half_length, LIMB_HALF_WIDTH), angle, 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, [int(c * LIMB_DIMMING) for c in colour])
    for (x, y, score), colour in zip(points, BODY_COLOURS, strict=True):
        if score > 0:
            cv2.circle(canvas, (int(x), int(y)), BODY_DOT_RADIUS, colour, thickness=-1)


def _draw_hand(canvas: np.ndarray, points: np.ndarray) -> None:
    for index, (a, b) in enumerate(HAND_BONES):
        if points[a, 2] > 0 and points[b, 2] > 0:
            start, end = (int(points[a, 0]), int(points[a, 1])), (int(points[b, 0]), int(points[b, 1]))
            cv2.line(canvas, start, end, hand_bone_colour(index), thickness=HAND_LINE_WIDTH)
    for x, y, score in points:
        if score > 0:
            cv2.circle(canvas, (int(x), int(y)), HAND_DOT_RADIUS, HAND_DOT_COLOUR, thickness=-1)


def _scaled(person: OpenPosePerson, sx: float, sy: float) -> OpenPosePerson:
    if sx == 1.0 and sy == 1.0:
        return person
    parts = [part.copy() for part in (person.body, person.face, person.left_hand, person.right_hand)]
    for part in parts:
        part[:, 0] *= sx
        part[:, 1] *= sy
    return OpenPosePerson(*parts)


def draw_pose_keypoint(
    frames: Sequence[Mapping[str, Any]],
    size: tuple[int, int] | None = None,
    body: bool = True,
    hands: bool = True,
    face: bool = True,
) -> torch.Tensor:
    """ComfyUI IMAGE (F, H, W, 3) float32 in [0, 1]: the skeletons of a POSE_KEYPOINT list on black.

    size: output (width, height); default the first frame's canvas. Frames on another canvas are scaled to it.
    """
    if isinstance(frames, Mapping):
        frames = [frames]  # a single frame dict, as some tools emit
    if not frames:
        raise InputError("The POSE_KEYPOINT input has no frames; run the pose estimator on at least one image.")
    parsed = [people_from_frame(frame) for frame in frames]
    width, height = size if size is not None else parsed[0][1:]
    if width <= 0 or height <= 0:
        raise InputError(f"Cannot draw poses on a {width}x{height} canvas; give a positive width and height.")
    images = np.zeros((len(parsed), height, width, 3), dtype=np.uint8)
    for canvas, (people, canvas_w, canvas_h) in zip(images, parsed, strict=True):
        sx, sy = width / max(canvas_w, 1), height / max(canvas_h, 1)
        for person in people:
            draw_person(canvas, _scaled(person, sx, sy), body, hands, face)
    return torch.from_numpy(images).float().div_(255.0)
