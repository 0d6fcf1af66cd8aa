"""A short synthetic pose clip and reference image for ``python -m realisdance demo`` (no downloads).

The clip imitates the two condition videos: a jet-coloured body of ellipses swinging its arms on black (SMPL-CS look)
and a light-red right hand / light-green left hand (hand render look), 24 fps, so the demo exercises the release's
16 fps resampling too. The reference is a plain figure on a grey backdrop.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from .video import write_video

RIGHT_HAND = (255, 128, 128)
LEFT_HAND = (128, 255, 128)


def _jet(value: float) -> tuple[int, int, int]:
    """The jet colour map (the SMPL-CS palette) at ``value`` in [0, 1], as RGB bytes."""
    r = min(max(1.5 - abs(4 * value - 3), 0), 1)
    g = min(max(1.5 - abs(4 * value - 2), 0), 1)
    b = min(max(1.5 - abs(4 * value - 1), 0), 1)
    return int(255 * r), int(255 * g), int(255 * b)


def _limb(canvas, start, end, width, colour):
    cv2.line(canvas, tuple(int(v) for v in start), tuple(int(v) for v in end), colour, width, cv2.LINE_AA)


def pose_frames(frames: int = 36, height: int = 256, width: int = 448) -> tuple[np.ndarray, np.ndarray]:
    """(F, H, W, 3) uint8 SMPL-CS-like and hand-like frames of a figure waving both arms."""
    body = np.zeros((frames, height, width, 3), np.uint8)
    hands = np.zeros_like(body)
    s = height / 256
    for f in range(frames):
        phase = 2 * math.pi * f / frames
        cx, hip_y, neck_y = width / 2 + 20 * s * math.sin(phase), 160 * s, 80 * s
        canvas, hand_canvas = body[f], hands[f]
        _limb(canvas, (cx, hip_y), (cx - 20 * s, 240 * s), int(14 * s), _jet(0.1))  # legs (blue)
        _limb(canvas, (cx, hip_y), (cx + 20 * s, 240 * s), int(14 * s), _jet(0.15))
        _limb(canvas, (cx, hip_y), (cx, neck_y), int(24 * s), _jet(0.65))  # torso (yellow)
        cv2.circle(canvas, (int(cx), int(neck_y - 22 * s)), int(18 * s), _jet(0.8), -1, cv2.LINE_AA)  # head
        for side, lift in ((-1, math.sin(phase)), (1, math.cos(phase))):
            elbow = (cx + side * 40 * s, neck_y + 20 * s - 30 * s * lift)
            wrist = (elbow[0] + side * 30 * s, elbow[1] - 40 * s * lift)
            _limb(canvas, (cx, neck_y + 5 * s), elbow, int(10 * s), _jet(0.45 if side > 0 else 0.9))
            _limb(canvas, elbow, wrist, int(8 * s), _jet(0.48 if side > 0 else 0.95))
            # the figure faces the viewer, so its left hand is on the image's right
            colour = LEFT_HAND if side > 0 else RIGHT_HAND
            cv2.circle(hand_canvas, (int(wrist[0]), int(wrist[1])), int(7 * s), colour, -1, cv2.LINE_AA)
    return body, hands


def reference_image(height: int = 320, width: int = 256) -> np.ndarray:
    """(H, W, 3) uint8: a simple character on a grey backdrop."""
    image = np.full((height, width, 3), 150, np.uint8)
    cx = width // 2
    cv2.ellipse(image, (cx, int(height * 0.55)), (width // 7, height // 4), 0, 0, 360, (40, 60, 160), -1)
    cv2.circle(image, (cx, int(height * 0.22)), width // 9, (225, 190, 160), -1)
    cv2.rectangle(image, (cx - width // 9, int(height * 0.75)), (cx + width // 9, height - 10), (30, 30, 40), -1)
    return image


DEMO_NAMES = {"ref": "ref.png", "smpl": "smpl.mp4", "hamer": "hamer.mp4"}


def write_demo_inputs(folder: Path, names: dict[str, str] | None = None, frames: int = 36) -> dict[str, Path]:
    """Write the reference image and the SMPL-CS / hand videos (24 fps, ``frames`` long) into ``folder`` once, under
    ``names`` (default ref.png, smpl.mp4, hamer.mp4); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in (names or DEMO_NAMES).items()}
    if not all(p.exists() for p in paths.values()):
        body, hands = pose_frames(frames)
        write_video(paths["smpl"], body, fps=24)
        write_video(paths["hamer"], hands, fps=24)
        cv2.imwrite(str(paths["ref"]), cv2.cvtColor(reference_image(), cv2.COLOR_RGB2BGR))
    return paths
