"""COCO-WholeBody 133 -> OpenPose parts, thresholds, and the POSE_KEYPOINT JSON form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from realisdance.errors import InputError
from realisdance.pose.dwpose import WholeBodyPose, people_from_frame, pose_keypoint_frame, to_openpose
from realisdance.pose.dwpose.keypoints import pose_keypoint_video

# Independent name tables (COCO-WholeBody body order and OpenPose-18 order), matched by name below.
COCO_BODY = [
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
]  # fmt: skip
OPENPOSE_BODY = [
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee",
    "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
]  # fmt: skip


def indexed_person(scores=None) -> WholeBodyPose:
    """Keypoint k sits at (k, 1000 + k), so every output point tells which COCO point it came from."""
    k = np.arange(133, dtype=np.float32)
    return WholeBodyPose(
        keypoints=np.stack([k, 1000 + k], axis=1),
        scores=np.full(133, 0.9, np.float32) if scores is None else scores.astype(np.float32),
        box=np.array([0, 0, 10, 10, 0.9], np.float32),
    )


def source_index(point) -> int:
    assert point[1] == point[0] + 1000
    return int(point[0])


def test_body_is_reordered_by_name_with_the_neck_between_the_shoulders():
    person = to_openpose(indexed_person(), threshold=0.3)
    for openpose_index, name in enumerate(OPENPOSE_BODY):
        if name == "neck":
            continue
        assert source_index(person.body[openpose_index]) == COCO_BODY.index(name), name
    shoulders = (np.array([5, 1005]) + np.array([6, 1006])) / 2
    np.testing.assert_allclose(person.body[1, :2], shoulders)
    assert person.body[1, 2] == pytest.approx(0.9)


def test_face_hands_and_the_two_eye_points():
    person = to_openpose(indexed_person(), threshold=0.3)
    assert [source_index(p) for p in person.face[:68]] == list(range(23, 91))
    assert source_index(person.face[68]) == COCO_BODY.index("r_eye")
    assert source_index(person.face[69]) == COCO_BODY.index("l_eye")
    assert [source_index(p) for p in person.left_hand] == list(range(91, 112))
    assert [source_index(p) for p in person.right_hand] == list(range(112, 133))


def test_points_below_the_threshold_become_missing_and_the_neck_needs_both_shoulders():
    scores = np.full(133, 0.9)
    scores[6] = 0.29  # right shoulder
    scores[91:112] = 0.1  # whole left hand
    scores[23:91] = 0.0  # whole face
    person = to_openpose(indexed_person(scores), threshold=0.3)
    assert person.body[2].tolist() == [0, 0, 0]  # OpenPose 2 = right shoulder
    assert person.body[1].tolist() == [0, 0, 0]  # no neck without it
    assert not person.left_hand.any()
    assert not person.face.any()  # no face: the eye copies are left out too
    assert person.right_hand[:, 2].min() == pytest.approx(0.9)
    exactly = to_openpose(indexed_person(np.full(133, 0.3)), threshold=0.3)
    assert exactly.body[0, 2] == pytest.approx(0.3)  # a score equal to the threshold is kept


def test_pose_keypoint_json_shape_and_confidence_modes():
    people = [to_openpose(indexed_person(), 0.3), to_openpose(indexed_person(np.zeros(133)), 0.3)]
    frame = json.loads(json.dumps(pose_keypoint_frame(people, 640, 480)))  # plain JSON values only
    assert frame["canvas_width"] == 640 and frame["canvas_height"] == 480
    assert len(frame["people"]) == 2
    first = frame["people"][0]
    assert {name: len(values) for name, values in first.items()} == {
        "pose_keypoints_2d": 54,
        "face_keypoints_2d": 210,
        "hand_left_keypoints_2d": 63,
        "hand_right_keypoints_2d": 63,
        "foot_keypoints_2d": 18,  # COCO-WholeBody 17-22, an extra entry other tools ignore
    }
    assert first["foot_keypoints_2d"][:2] == [17.0, 1017.0]  # left big toe: COCO-WholeBody point 17
    assert first["pose_keypoints_2d"][:3] == [0.0, 1000.0, 1.0]  # nose in pixels, binary confidence
    assert set(first["pose_keypoints_2d"][2::3]) == {1.0}
    assert set(frame["people"][1]["pose_keypoints_2d"]) == {0.0}  # all missing: zeros, not None
    scored = pose_keypoint_frame(people[:1], 640, 480, confidence="score")
    assert scored["people"][0]["pose_keypoints_2d"][2] == pytest.approx(0.9)


def test_a_frame_without_people_has_an_empty_people_list():
    video = pose_keypoint_video([[indexed_person()], []], 64, 48, threshold=0.3)
    assert video[1] == {"people": [], "canvas_width": 64, "canvas_height": 48}
    assert len(video[0]["people"]) == 1


def test_parsing_accepts_other_tools_output_missing_parts_and_normalised_coordinates():
    normalised = {
        "people": [{"pose_keypoints_2d": [0.5, 0.25, 1.0] + [0.0] * 51, "face_keypoints_2d": None}],
        "canvas_width": 200,
        "canvas_height": 100,
    }
    (person,), width, height = people_from_frame(normalised)
    assert (width, height) == (200, 100)
    np.testing.assert_allclose(person.body[0], [100, 25, 1])
    assert person.face.shape == (70, 3) and not person.face.any()
    assert person.left_hand.shape == (21, 3)
    ours = pose_keypoint_frame([to_openpose(indexed_person(), 0.3)], 2000, 2000)
    (parsed,), _, _ = people_from_frame(ours)
    assert source_index(parsed.right_hand[0]) == 112  # pixel coordinates stay as they are
    with pytest.raises(InputError, match="canvas_width"):
        people_from_frame({"people": []})
    with pytest.raises(InputError, match="triples"):
        people_from_frame({"people": [{"pose_keypoints_2d": [1.0, 2.0]}], "canvas_width": 8, "canvas_height": 8})


def test_what_the_shape_fitting_reader_sees_for_our_output():
    """The pack's POSE_KEYPOINT reader (realisdance.pose.keypoints) reads our frames; nobody -> a clear error."""
    reader = pytest.importorskip("realisdance.pose.keypoints")
    video = pose_keypoint_video([[indexed_person()], []], 2000, 2000, threshold=0.3)
    person = reader.person_keypoints(video, frame=0)
    assert (person.width, person.height) == (2000, 2000)
    assert person.body[2, :2].tolist() == [6.0, 1006.0]  # right shoulder, pixels
    with pytest.raises(InputError, match="No person"):
        reader.person_keypoints(video, frame=1)
