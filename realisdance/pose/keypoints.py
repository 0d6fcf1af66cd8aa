"""ComfyUI POSE_KEYPOINT (OpenPose-18 body, 70 face, 21 + 21 hand points) to typed tensors.

POSE_KEYPOINT, as comfyui_controlnet_aux's DWPose/OpenPose nodes write it, is a list with one dict per frame:
``{"people": [{"pose_keypoints_2d": [x, y, c] * 18, "face_keypoints_2d": [...] * 70,
"hand_left_keypoints_2d": [...] * 21, "hand_right_keypoints_2d": [...] * 21}], "canvas_width": W,
"canvas_height": H}``. Coordinates are pixels of the W x H canvas, confidence 0 (or a point at (0, 0)) means
missing, and a part that was not detected is ``None``. Some producers write coordinates normalised to [0, 1];
those are recognised (every confident coordinate <= 1) and scaled to pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputError

OPENPOSE_BODY_POINTS = 18
OPENPOSE_FACE_POINTS = 70
OPENPOSE_HAND_POINTS = 21
FOOT_KEY, FOOT_POINTS = "foot_keypoints_2d", 6  # the extra feet entry our DWPose node writes
PART_SIZES = {
    "pose_keypoints_2d": OPENPOSE_BODY_POINTS,
    "face_keypoints_2d": OPENPOSE_FACE_POINTS,
    "hand_left_keypoints_2d": OPENPOSE_HAND_POINTS,
    "hand_right_keypoints_2d": OPENPOSE_HAND_POINTS,
}


@dataclass(frozen=True)
class PersonKeypoints:
    """One person's 2D keypoints in pixels of a width x height image: each part (N, 3) = x, y, confidence.

    Missing points have confidence 0. The body is in OpenPose-18 order (0 nose, 1 neck, 2-4 right arm, 5-7 left
    arm, 8-10 right leg, 11-13 left leg, 14/15 right/left eye, 16/17 right/left ear); hands in OpenPose hand order
    (0 wrist, then thumb, index, middle, ring, pinky from base to tip).
    """

    body: torch.Tensor
    face: torch.Tensor
    left_hand: torch.Tensor
    right_hand: torch.Tensor
    width: int
    height: int
    feet: torch.Tensor | None = None  # (6, 3): left big toe, small toe, heel, then right (DWPose's feet), if given

    def scaled(self, width: int, height: int) -> PersonKeypoints:
        """The same points in an image resampled to width x height."""
        factor = torch.tensor([width / self.width, height / self.height, 1.0])
        parts = (self.body, self.face, self.left_hand, self.right_hand)
        feet = None if self.feet is None else self.feet * factor
        return PersonKeypoints(*(part * factor for part in parts), width=int(width), height=int(height), feet=feet)


def person_keypoints(pose_keypoint: Any, frame: int = 0, person: int | None = None) -> PersonKeypoints:
    """The keypoints of one person in one frame of a POSE_KEYPOINT value.

    person: index into the frame's ``people``; None picks the person whose confident body points span the
    largest box (the main subject of a reference image).
    """
    frames = [pose_keypoint] if isinstance(pose_keypoint, Mapping) else pose_keypoint
    if not isinstance(frames, Sequence) or isinstance(frames, str) or len(frames) == 0:
        raise InputError("The keypoints input is empty; connect a pose estimator's POSE_KEYPOINT output.")
    if not -len(frames) <= frame < len(frames):
        raise InputError(f"Keypoint frame {frame} requested but the input has {len(frames)} frame(s).")
    entry = frames[frame]
    if not isinstance(entry, Mapping):
        raise InputError(f"Keypoint frame {frame} is a {type(entry).__name__}, not a POSE_KEYPOINT dict.")
    width, height = _canvas_size(entry, frame)
    people = entry.get("people") or []
    if len(people) == 0:
        raise InputError(
            f"No person was detected in keypoint frame {frame}; use a reference image where the whole character "
            "is visible, or another pose estimator."
        )
    parsed = [_parse_person(p, index, width, height) for index, p in enumerate(people)]
    if person is None:
        return max(parsed, key=_body_extent)
    if not -len(parsed) <= person < len(parsed):
        raise InputError(f"Person {person} requested but keypoint frame {frame} has {len(parsed)} people.")
    return parsed[person]


def _canvas_size(entry: Mapping, frame: int) -> tuple[int, int]:
    try:
        width, height = int(entry["canvas_width"]), int(entry["canvas_height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"Keypoint frame {frame} lacks a valid canvas_width/canvas_height.") from exc
    if width <= 0 or height <= 0:
        raise InputError(f"Keypoint frame {frame} has an empty canvas ({width}x{height}).")
    return width, height


def _parse_person(person: Any, index: int, width: int, height: int) -> PersonKeypoints:
    if not isinstance(person, Mapping):
        raise InputError(f"Person {index} of the keypoints is a {type(person).__name__}, not a dict.")
    parts = {}
    for key, count in PART_SIZES.items():
        values = person.get(key)
        if values is None or len(values) == 0:  # an undetected part
            parts[key] = torch.zeros(count, 3)
            continue
        flat = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
        if flat.numel() != 3 * count:
            raise InputError(
                f"'{key}' of person {index} has {flat.numel()} numbers; expected {count} points x (x, y, confidence)."
            )
        points = flat.reshape(count, 3).clone()
        points[~torch.isfinite(points).all(-1)] = 0.0
        points[(points[:, 0] == 0) & (points[:, 1] == 0), 2] = 0.0  # OpenPose writes missing points as (0, 0)
        points[:, 2] = points[:, 2].clamp(min=0.0)
        parts[key] = points
    feet_values = person.get(FOOT_KEY)
    if feet_values:
        flat = torch.as_tensor(feet_values, dtype=torch.float32).reshape(-1)
        if flat.numel() != 3 * FOOT_POINTS:
            raise InputError(f"'{FOOT_KEY}' of person {index} has {flat.numel()} numbers; expected 6 x (x, y, c).")
        feet = flat.reshape(FOOT_POINTS, 3).clone()
        feet[~torch.isfinite(feet).all(-1)] = 0.0
        feet[(feet[:, 0] == 0) & (feet[:, 1] == 0), 2] = 0.0
        parts[FOOT_KEY] = feet
    confident = torch.cat([p[p[:, 2] > 0, :2] for p in parts.values()])
    if confident.numel() > 0 and float(confident.abs().max()) <= 1.0:  # normalised coordinates
        scale = torch.tensor([float(width), float(height), 1.0])
        parts = {key: p * scale for key, p in parts.items()}
    return PersonKeypoints(
        body=parts["pose_keypoints_2d"],
        face=parts["face_keypoints_2d"],
        left_hand=parts["hand_left_keypoints_2d"],
        right_hand=parts["hand_right_keypoints_2d"],
        width=width,
        height=height,
        feet=parts.get(FOOT_KEY),
    )


def _body_extent(person: PersonKeypoints) -> float:
    points = person.body[person.body[:, 2] > 0, :2]
    if points.shape[0] < 2:
        return 0.0
    size = points.amax(0) - points.amin(0)
    return float(size[0] * size[1])


def clip_keypoints(pose_keypoint: Any) -> list[PersonKeypoints | None]:
    """One person per frame of a video's POSE_KEYPOINT (None where nobody was detected): the largest person of the
    first frame with anyone, then in each frame the person whose body is nearest the previous choice (so a passer-by
    does not take over the motion)."""
    frames = [pose_keypoint] if isinstance(pose_keypoint, Mapping) else pose_keypoint
    if not isinstance(frames, Sequence) or isinstance(frames, str) or len(frames) == 0:
        raise InputError("The keypoints input is empty; connect a pose estimator's POSE_KEYPOINT output.")
    chosen: list[PersonKeypoints | None] = []
    previous: PersonKeypoints | None = None
    for index, entry in enumerate(frames):
        if not isinstance(entry, Mapping):
            raise InputError(f"Keypoint frame {index} is a {type(entry).__name__}, not a POSE_KEYPOINT dict.")
        width, height = _canvas_size(entry, index)
        people = [_parse_person(p, i, width, height) for i, p in enumerate(entry.get("people") or [])]
        people = [p for p in people if _body_extent(p) > 0]
        if not people:
            chosen.append(None)
            continue
        if previous is None:
            pick = max(people, key=_body_extent)
        else:
            pick = min(people, key=lambda p: _body_distance(p, previous))
        chosen.append(pick)
        previous = pick
    return chosen


def _body_distance(a: PersonKeypoints, b: PersonKeypoints) -> float:
    both = (a.body[:, 2] > 0) & (b.body[:, 2] > 0)
    if not bool(both.any()):
        return float("inf")
    return float((a.body[both, :2] - b.body[both, :2]).norm(dim=-1).mean())
