"""Whole-body keypoints and their ComfyUI POSE_KEYPOINT (OpenPose JSON) form.

COCO-WholeBody 133 order: 0-16 body (nose, L/R eye, L/R ear, L/R shoulder, L/R elbow, L/R wrist, L/R hip, L/R knee,
L/R ankle), 17-22 feet, 23-90 face (the 68 iBUG points), 91-111 left hand, 112-132 right hand (the subject's
sides). OpenPose-18 reorders the body and adds the neck as the shoulder midpoint; the OpenPose face has 70 points,
the last two being the eyes (right, then left) copied from the body as the common tools do. The 6 foot points
(left big toe, small toe, heel, then right) go to an extra "foot_keypoints_2d" entry, in COCO-WholeBody order, which
tools that do not know it ignore (the motion fit uses it for the feet).

POSE_KEYPOINT is a list with one dict per frame: {"people": [{"pose_keypoints_2d": [x, y, c] * 18,
"face_keypoints_2d": * 70, "hand_left_keypoints_2d": * 21, "hand_right_keypoints_2d": * 21}], "canvas_width": W,
"canvas_height": H}, x and y in pixels of that canvas, c = 0 for a missing point. A frame without people has an
empty "people" list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from .config import NUM_WHOLEBODY_KEYPOINTS, Confidence

# OpenPose-18 index -> COCO-WholeBody index (None: the neck, built from the shoulders).
OPENPOSE_FROM_COCO: tuple[int | None, ...] = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
COCO_LEFT_SHOULDER, COCO_RIGHT_SHOULDER = 5, 6
OPENPOSE_RIGHT_EYE, OPENPOSE_LEFT_EYE = 14, 15
FACE = slice(23, 91)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)
FEET = slice(17, 23)
FOOT_KEY, FOOT_POINTS = "foot_keypoints_2d", 6
PART_SIZES = {
    "pose_keypoints_2d": 18,
    "face_keypoints_2d": 70,
    "hand_left_keypoints_2d": 21,
    "hand_right_keypoints_2d": 21,
}


@dataclass(frozen=True)
class WholeBodyPose:
    """One detected person: keypoints (133, 2) in image pixels, scores (133,), box [x0, y0, x1, y1, score]."""

    keypoints: np.ndarray
    scores: np.ndarray
    box: np.ndarray

    @property
    def box_area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))


@dataclass(frozen=True)
class OpenPosePerson:
    """(N, 3) [x, y, score] arrays per part in pixels; score 0 means missing."""

    body: np.ndarray
    face: np.ndarray
    left_hand: np.ndarray
    right_hand: np.ndarray
    feet: np.ndarray | None = None  # (6, 3) when the estimator gives feet

    def parts(self) -> dict[str, np.ndarray]:
        parts = dict(zip(PART_SIZES, (self.body, self.face, self.left_hand, self.right_hand), strict=True))
        if self.feet is not None:
            parts[FOOT_KEY] = self.feet
        return parts


def to_openpose(pose: WholeBodyPose, threshold: float) -> OpenPosePerson:
    """Reorder a COCO-WholeBody person into OpenPose parts, zeroing points scored below ``threshold``."""
    if pose.keypoints.shape != (NUM_WHOLEBODY_KEYPOINTS, 2):
        raise InputError(f"expected (133, 2) whole-body keypoints, got {pose.keypoints.shape}.")
    points = np.concatenate([pose.keypoints, pose.scores[:, None]], axis=1).astype(np.float32)
    points[points[:, 2] < threshold] = 0.0

    body = np.zeros((18, 3), dtype=np.float32)
    for openpose, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is not None:
            body[openpose] = points[coco]
    left, right = points[COCO_LEFT_SHOULDER], points[COCO_RIGHT_SHOULDER]
    if left[2] > 0 and right[2] > 0:
        body[1] = [(left[0] + right[0]) / 2, (left[1] + right[1]) / 2, min(left[2], right[2])]

    face68 = points[FACE]
    face = np.zeros((70, 3), dtype=np.float32)
    if (face68[:, 2] > 0).any():
        face[:68] = face68
        face[68], face[69] = body[OPENPOSE_RIGHT_EYE], body[OPENPOSE_LEFT_EYE]
    return OpenPosePerson(
        body=body,
        face=face,
        left_hand=points[LEFT_HAND].copy(),
        right_hand=points[RIGHT_HAND].copy(),
        feet=points[FEET].copy(),
    )


def flatten_part(part: np.ndarray, confidence: Confidence) -> list[float]:
    values = part.astype(np.float64).copy()
    if confidence == "binary":
        values[:, 2] = (values[:, 2] > 0).astype(np.float64)
    return [float(v) for v in values.reshape(-1)]


def pose_keypoint_frame(
    people: Sequence[OpenPosePerson], width: int, height: int, confidence: Confidence = "binary"
) -> dict[str, Any]:
    """One POSE_KEYPOINT frame dict (JSON-serialisable plain Python values)."""
    return {
        "people": [
            {name: flatten_part(part, confidence) for name, part in person.parts().items()} for person in people
        ],
        "canvas_width": int(width),
        "canvas_height": int(height),
    }


def pose_keypoint_video(
    frames: Sequence[Sequence[WholeBodyPose]],
    width: int,
    height: int,
    threshold: float,
    confidence: Confidence = "binary",
) -> list[dict[str, Any]]:
    return [
        pose_keypoint_frame([to_openpose(pose, threshold) for pose in people], width, height, confidence)
        for people in frames
    ]


def people_from_frame(frame: Mapping[str, Any]) -> tuple[list[OpenPosePerson], int, int]:
    """Parse one POSE_KEYPOINT frame (ours or another tool's) into pixel-space parts, plus (width, height).

    Accepts parts given as null/empty (missing) and people whose coordinates are all within [0, 1] (the
    normalised convention some tools write), which are scaled to the canvas.
    """
    try:
        width, height = int(frame["canvas_width"]), int(frame["canvas_height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            "A POSE_KEYPOINT frame needs integer 'canvas_width' and 'canvas_height'; connect the output of a "
            "pose estimator node."
        ) from exc
    people = []
    for person in frame.get("people") or []:
        if not isinstance(person, Mapping):
            continue
        parts = {name: _part_array(person.get(name), size, name) for name, size in PART_SIZES.items()}
        present = np.concatenate([part[part[:, 2] > 0, :2] for part in parts.values()])
        if present.size and np.abs(present).max() <= 1.0:
            for part in parts.values():
                part[:, 0] *= width
                part[:, 1] *= height
        people.append(
            OpenPosePerson(
                body=parts["pose_keypoints_2d"],
                face=parts["face_keypoints_2d"],
                left_hand=parts["hand_left_keypoints_2d"],
                right_hand=parts["hand_right_keypoints_2d"],
            )
        )
    return people, width, height


def _part_array(values: Any, size: int, name: str) -> np.ndarray:
    if not values:
        return np.zeros((size, 3), dtype=np.float32)
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    if flat.size % 3:
        raise InputError(f"POSE_KEYPOINT '{name}' must hold [x, y, c] triples; it has {flat.size} numbers.")
    part = flat.reshape(-1, 3)
    if len(part) < size:  # a shorter list (e.g. a 68-point face) leaves the rest missing
        part = np.concatenate([part, np.zeros((size - len(part), 3), dtype=np.float32)])
    return part[:size].copy()
