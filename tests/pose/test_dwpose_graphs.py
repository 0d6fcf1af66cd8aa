"""The DWPose ONNX stand-ins (built in tests/pose_assets.py) have the real signatures.

The builders are re-exported here for the DWPose tests that import them from this module.
"""

from __future__ import annotations

import numpy as np
import pytest
from pose_assets import (  # noqa: F401 (re-exported)
    ANCHORS,
    KEYPOINTS,
    blob_detector,
    blob_pose_model,
    constant_detector,
    planted_pose_model,
    simcc_tables,
    yolox_raw_row,
)

pytest.importorskip("onnx")


def test_stand_ins_have_the_real_signatures(tmp_path):
    import onnxruntime as ort

    detector = ort.InferenceSession(str(blob_detector(tmp_path / "yolox_l.onnx")), providers=["CPUExecutionProvider"])
    pose = ort.InferenceSession(str(blob_pose_model(tmp_path / "dw.onnx")), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in detector.get_inputs()] == [("images", [1, 3, 640, 640])]
    assert [(o.name, o.shape) for o in detector.get_outputs()] == [("output", [1, 8400, 85])]
    assert [(i.name, i.shape) for i in pose.get_inputs()] == [("input", ["batch", 3, 384, 288])]
    assert [o.name for o in pose.get_outputs()] == ["simcc_x", "simcc_y"]
    (out,) = detector.run(None, {"images": np.zeros((1, 3, 640, 640), np.float32)})
    assert out.shape == (1, 8400, 85) and out[0, 0, 4] == 0.0  # nothing bright: no objectness
    simcc_x, simcc_y = pose.run(None, {"input": np.zeros((2, 3, 384, 288), np.float32)})
    assert simcc_x.shape == (2, 133, 576) and simcc_y.shape == (2, 133, 768)


def test_yolox_raw_row_round_trips_through_the_yolox_formula():
    row = yolox_raw_row((100.0, 50.0, 180.0, 290.0), anchor=6400 + 3 * 40 + 7)  # stride 16, cell (7, 3)
    centre = (row[:2] + np.array([7, 3])) * 16
    size = np.exp(row[2:4]) * 16
    np.testing.assert_allclose(np.r_[centre - size / 2, centre + size / 2], [100, 50, 180, 290], atol=1e-4)
