"""YOLOX person detection: decoding, person filtering, NMS and the letterbox map back to image pixels."""

from __future__ import annotations

import numpy as np
import pytest
from test_dwpose_graphs import blob_detector, constant_detector, yolox_raw_row

from realisdance.pose.dwpose import DWPoseConfig, PersonDetector, decode_yolox, non_max_suppression


def test_decode_recovers_boxes_on_every_stride():
    boxes_in = {0: (2.0, 3.0, 30.0, 50.0), 6400 + 41: (100.0, 20.0, 180.0, 290.0), 8399: (500.0, 480.0, 639.0, 639.0)}
    raw = np.zeros((8400, 85), np.float32)
    for anchor, box in boxes_in.items():
        raw[anchor] = yolox_raw_row(box, anchor, person=0.5, objectness=0.8)
    boxes, scores = decode_yolox(raw, (640, 640))
    for anchor, box in boxes_in.items():
        np.testing.assert_allclose(boxes[anchor], box, atol=1e-3)
        assert scores[anchor] == pytest.approx(0.4)  # objectness x person probability
    assert np.count_nonzero(scores) == 3


def test_nms_keeps_the_best_of_overlapping_boxes_and_disjoint_ones():
    boxes = np.array([[0, 0, 100, 100], [10, 0, 110, 100], [200, 200, 260, 300], [0, 0, 100, 160]], np.float64)
    scores = np.array([0.8, 0.9, 0.5, 0.7])
    # IoU(1, 0) = 90*100 / (2*10000 - 9000) = 0.818 -> 0 suppressed; IoU(1, 3) = 9000 / 17000 = 0.53 -> suppressed
    assert non_max_suppression(boxes, scores, 0.45).tolist() == [1, 2]
    assert non_max_suppression(boxes, scores, 0.6).tolist() == [1, 3, 2]  # 0.53 <= 0.6 survives


@pytest.fixture()
def three_people_detector(tmp_path):
    rows = {
        100: yolox_raw_row((20, 40, 120, 300), 100, person=0.95),  # kept
        101: yolox_raw_row((25, 45, 125, 305), 101, person=0.6),  # overlaps the first: suppressed
        7000: yolox_raw_row((400, 100, 560, 380), 7000, person=0.5),  # kept (second)
        8000: yolox_raw_row((300, 300, 340, 400), 8000, person=0.25),  # under 0.3: dropped
        8100: yolox_raw_row((200, 10, 260, 90), 8100, person=0.0, other_class=(2, 0.99)),  # a car: ignored
    }
    return constant_detector(tmp_path / "yolox_l.onnx", rows)


def test_detector_keeps_confident_people_maps_back_through_the_letterbox(three_people_detector):
    detector = PersonDetector.open(three_people_detector, DWPoseConfig(), ["CPUExecutionProvider"])
    assert detector.input_size == (640, 640)
    frame = np.zeros((480, 1280, 3), np.uint8)  # letterbox ratio 0.5
    (people,) = detector.detect([frame])
    np.testing.assert_allclose(people[:, :4], [[40, 80, 240, 600], [800, 200, 1120, 760]], atol=1e-2)
    np.testing.assert_allclose(people[:, 4], [0.95, 0.5], atol=1e-6)
    capped = PersonDetector.open(three_people_detector, DWPoseConfig(max_people=1), ["CPUExecutionProvider"])
    assert len(capped.detect([frame])[0]) == 1
    lenient = PersonDetector.open(three_people_detector, DWPoseConfig(person_score_threshold=0.2))
    assert len(lenient.detect([frame])[0]) == 3


def test_blob_detector_box_comes_back_in_original_pixels(tmp_path):
    detector = PersonDetector.open(blob_detector(tmp_path / "yolox_l.onnx"), DWPoseConfig())
    landscape = np.zeros((200, 320, 3), np.uint8)
    landscape[40:160, 100:180] = 255
    portrait = np.zeros((500, 300, 3), np.uint8)
    portrait[10:490, 250:290] = 255
    empty = np.zeros((64, 64, 3), np.uint8)
    found = detector.detect([landscape, portrait, empty])  # the graph takes one image: frames go one by one
    np.testing.assert_allclose(found[0][:, :4], [[100, 40, 180, 160]], atol=1.0)
    np.testing.assert_allclose(found[1][:, :4], [[250, 10, 290, 490]], atol=1.0)
    assert found[2].shape == (0, 5)
