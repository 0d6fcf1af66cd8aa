"""The OpenPose skeleton drawing: colours at the right pixels, black elsewhere, IMAGE layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose.dwpose import draw_pose_keypoint


def frame_with(width=200, height=120, body=None, face=None, left=None, right=None):
    def flat(points, size):
        values = np.zeros((size, 3))
        for index, (x, y) in (points or {}).items():
            values[index] = (x, y, 1.0)
        return values.reshape(-1).tolist()

    person = {
        "pose_keypoints_2d": flat(body, 18),
        "face_keypoints_2d": flat(face, 70),
        "hand_left_keypoints_2d": flat(left, 21),
        "hand_right_keypoints_2d": flat(right, 21),
    }
    return {"people": [person], "canvas_width": width, "canvas_height": height}


def rgb(image: torch.Tensor, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(round(v * 255)) for v in image[y, x].tolist())


def test_limb_is_the_dimmed_standard_colour_and_dots_the_full_colour():
    # OpenPose 2 (right shoulder) -> 3 (right elbow) is limb 3 of the standard table: (255, 170, 0).
    image = draw_pose_keypoint([frame_with(body={2: (40, 60), 3: (140, 60)})])[0]
    assert rgb(image, 90, 60) == (153, 102, 0)  # 60 % of (255, 170, 0)
    assert rgb(image, 90, 63) == (153, 102, 0)  # inside the 4-px half-width
    assert rgb(image, 90, 70) == (0, 0, 0)
    assert rgb(image, 40, 60) == (255, 170, 0)  # keypoint 2's dot
    assert rgb(image, 140, 60) == (255, 255, 0)  # keypoint 3's dot
    assert rgb(image, 5, 5) == (0, 0, 0)


def test_vertical_legs_use_their_own_colours():
    # 8 (right hip) -> 9 (right knee) is limb 8: (0, 255, 85); 11 (left hip) -> 12 (left knee) limb 11: (0, 170, 255).
    image = draw_pose_keypoint([frame_with(body={8: (50, 10), 9: (50, 110), 11: (150, 10), 12: (150, 110)})])[0]
    assert rgb(image, 50, 60) == (0, 153, 51)
    assert rgb(image, 150, 60) == (0, 102, 153)


def test_a_limb_with_a_missing_end_is_not_drawn():
    image = draw_pose_keypoint([frame_with(body={2: (40, 60)})])[0]
    assert rgb(image, 90, 60) == (0, 0, 0)
    assert rgb(image, 40, 60) == (255, 170, 0)


def test_hand_bones_go_round_the_hue_circle_with_blue_joints():
    # Bone 0 (wrist -> thumb 1) has hue 0: red; bone 4 (wrist -> index 1) hue 0.2: (204, 255, 0).
    image = draw_pose_keypoint([frame_with(right={0: (20, 60), 1: (100, 60), 5: (20, 110)})])[0]
    assert rgb(image, 60, 60) == (255, 0, 0)
    assert rgb(image, 20, 85) == (204, 255, 0)
    assert rgb(image, 100, 60) == (0, 0, 255)
    assert rgb(image, 60, 66) == (0, 0, 0)  # a 2-px line, not a thick limb


def test_face_points_are_small_white_dots():
    image = draw_pose_keypoint([frame_with(face={0: (30, 30), 69: (150, 90)})])[0]
    assert rgb(image, 30, 30) == (255, 255, 255) and rgb(image, 32, 30) == (255, 255, 255)
    assert rgb(image, 30, 35) == (0, 0, 0)  # radius 3
    assert rgb(image, 150, 90) == (255, 255, 255)
    no_face = draw_pose_keypoint([frame_with(face={0: (30, 30)})], face=False)[0]
    assert rgb(no_face, 30, 30) == (0, 0, 0)


def test_image_layout_size_override_and_empty_frames():
    frames = [frame_with(body={2: (40, 60), 3: (140, 60)}), {"people": [], "canvas_width": 200, "canvas_height": 120}]
    video = draw_pose_keypoint(frames)
    assert video.shape == (2, 120, 200, 3) and video.dtype == torch.float32
    assert 0.0 <= video.min() and video.max() <= 1.0
    assert video[1].abs().sum() == 0  # nobody: a black frame
    doubled = draw_pose_keypoint(frames, size=(400, 240))
    assert doubled.shape == (2, 240, 400, 3)
    assert rgb(doubled[0], 180, 120) == (153, 102, 0)  # coordinates follow the canvas
    normalised = frame_with(body={2: (0.2, 0.5), 3: (0.7, 0.5)})
    np.testing.assert_array_equal(draw_pose_keypoint([normalised])[0].numpy(), video[0].numpy())
    with pytest.raises(InputError, match="no frames"):
        draw_pose_keypoint([])
