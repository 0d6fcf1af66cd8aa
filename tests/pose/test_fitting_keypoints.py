"""POSE_KEYPOINT parsing and the SMPL-X <-> OpenPose landmark table."""

from __future__ import annotations

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose.keypoints import person_keypoints
from realisdance.pose.landmarks import LandmarkSet, landmark_positions


def flat(points):
    return [value for point in points for value in point]


def frame(people, width=200, height=100):
    return {"people": people, "canvas_width": width, "canvas_height": height}


def body(offset=0.0, scale=1.0):
    return [(10 + offset + scale * i, 20 + scale * i, 0.9) for i in range(18)]


def test_pixel_keypoints_parts_and_missing_points():
    person = {
        "pose_keypoints_2d": flat(body()),
        "face_keypoints_2d": None,
        "hand_left_keypoints_2d": flat([(0.0, 0.0, 0.0)] * 20 + [(50.0, 60.0, 1.0)]),
        "hand_right_keypoints_2d": [],
    }
    parsed = person_keypoints([frame([person])])
    assert (parsed.width, parsed.height) == (200, 100)
    assert parsed.body.shape == (18, 3) and parsed.body[5].tolist() == pytest.approx([15.0, 25.0, 0.9])
    assert parsed.face.shape == (70, 3) and float(parsed.face[:, 2].abs().sum()) == 0  # undetected part
    assert float(parsed.left_hand[:20, 2].sum()) == 0 and parsed.left_hand[20].tolist() == [50.0, 60.0, 1.0]
    assert float(parsed.right_hand[:, 2].sum()) == 0


def test_normalised_coordinates_become_pixels_and_zero_points_are_missing():
    points = [(0.5, 0.25, 1.0)] * 17 + [(0.0, 0.0, 1.0)]  # OpenPose writes a missing point as (0, 0)
    parsed = person_keypoints([frame([{"pose_keypoints_2d": flat(points)}], 200, 100)])
    assert parsed.body[0].tolist() == [100.0, 25.0, 1.0]
    assert parsed.body[17, 2] == 0


def test_largest_person_is_chosen_unless_an_index_is_given():
    small = {"pose_keypoints_2d": flat(body(scale=1.0))}
    large = {"pose_keypoints_2d": flat(body(offset=5, scale=3.0))}
    data = [frame([small, large])]
    assert person_keypoints(data).body[1, 0] == pytest.approx(18.0)  # 10 + 5 + 3
    assert person_keypoints(data, person=0).body[1, 0] == pytest.approx(11.0)


def test_keypoint_errors_are_actionable():
    with pytest.raises(InputError, match="No person"):
        person_keypoints([frame([])])
    with pytest.raises(InputError, match="empty"):
        person_keypoints([])
    with pytest.raises(InputError, match="expected 18 points"):
        person_keypoints([frame([{"pose_keypoints_2d": [1.0, 2.0, 1.0]}])])
    with pytest.raises(InputError, match="canvas"):
        person_keypoints([{"people": [{"pose_keypoints_2d": flat(body())}]}])
    with pytest.raises(InputError, match="frame 3"):
        person_keypoints([frame([{"pose_keypoints_2d": flat(body())}])], frame=3)


def test_landmark_table_follows_the_smplx_skeleton():
    table = LandmarkSet()
    joints = torch.randn(2, 55, 3)
    vertices = torch.randn(2, 10475, 3)
    points = landmark_positions(table.all, joints, vertices)
    assert points.shape == (2, 60, 3)
    # OpenPose-18 by hand, from the SMPL-X joint order (16/17 shoulders, 18/19 elbows, 20/21 wrists, 1/2 hips,
    # 4/5 knees, 7/8 ankles, 23/24 eyes), the neck being the midpoint of the shoulders.
    expected = {1: (joints[:, 16] + joints[:, 17]) / 2, 2: joints[:, 17], 4: joints[:, 21], 5: joints[:, 16]}
    expected |= {8: joints[:, 2], 10: joints[:, 8], 11: joints[:, 1], 13: joints[:, 7], 14: joints[:, 24]}
    expected |= {0: vertices[:, 9120], 17: vertices[:, 6]}
    for index, value in expected.items():
        torch.testing.assert_close(points[:, index], value)
    # Hands: wrist, then thumb (SMPL-X joints 37-39 on the left), index (25-27) ... each ending on a tip vertex.
    torch.testing.assert_close(points[:, 18], joints[:, 20])
    torch.testing.assert_close(points[:, 19:22], joints[:, 37:40])
    torch.testing.assert_close(points[:, 23:26], joints[:, 25:28])
    torch.testing.assert_close(points[:, 39 + 5 : 39 + 8], joints[:, 40:43])  # right index


def test_landmark_vertices_agree_with_the_smplx_package():
    vertex_ids = pytest.importorskip("smplx.vertex_ids").vertex_ids["smplx"]
    table = LandmarkSet()
    assert table.body[0].vertex == vertex_ids["nose"]
    assert (table.body[16].vertex, table.body[17].vertex) == (vertex_ids["rear"], vertex_ids["lear"])
    tips = [table.left_hand[i].vertex for i in (4, 8, 12, 16, 20)]
    assert tips == [vertex_ids[f"l{name}"] for name in ("thumb", "index", "middle", "ring", "pinky")]
