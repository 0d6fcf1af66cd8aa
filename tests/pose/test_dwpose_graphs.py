"""Small ONNX stand-ins for the DWPose models, with the real input/output names and shapes (no weights needed).

* ``constant_detector``: YOLOX-shaped ('images' (1, 3, 640, 640) -> 'output' (1, 8400, 85)); chosen anchors carry
  chosen raw rows, every other anchor scores 0.
* ``blob_detector``: a YOLOX-shaped graph that "detects" the bright rectangle of the letterboxed image: anchor 0
  gets the raw row of the box spanning the pixels brighter than 127 (score = objectness 1 x class 0.9, or 0 when
  nothing is bright).
* ``planted_pose_model``: DW-LL-shaped ('input' (1, 3, 384, 288) -> 'simcc_x' (1, 133, 576), 'simcc_y'
  (1, 133, 768)) with one constant peak per keypoint.
* ``blob_pose_model``: DW-LL-shaped with a dynamic batch; keypoints 0-66 peak at the first crop column/row whose
  pixel is bright, 67-132 at the last one, so decoding gives the rectangle's corners in crop pixels.
Every graph depends on its input (at least through 0 x sum(input)), so onnxruntime cannot fold it away.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8
ANCHORS = 80 * 80 + 40 * 40 + 20 * 20
KEYPOINTS = 133


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def _save(nodes, inputs, outputs, path: Path) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _zero_times_sum(input_name: str) -> list[onnx.NodeProto]:
    """Nodes making the scalar 'input_dependency' = 0 * sum(input)."""
    return [
        helper.make_node("ReduceSum", [input_name], ["input_sum"], keepdims=0),
        _const("zero", np.float32(0.0)),
        helper.make_node("Mul", ["input_sum", "zero"], ["input_dependency"]),
    ]


def yolox_raw_row(box_xyxy, anchor: int, person: float = 0.9, objectness: float = 1.0, other_class=None):
    """The raw YOLOX output row that decodes to ``box_xyxy`` (letterbox pixels) at ``anchor`` (written here from
    YOLOX's definition: centre = (raw + cell) * stride, size = exp(raw) * stride)."""
    cells = []
    for stride in (8, 16, 32):
        side = 640 // stride
        cells += [(x, y, stride) for y in range(side) for x in range(side)]
    cell_x, cell_y, stride = cells[anchor]
    x0, y0, x1, y1 = box_xyxy
    row = np.zeros(85, dtype=np.float32)
    row[0] = (x0 + x1) / 2 / stride - cell_x
    row[1] = (y0 + y1) / 2 / stride - cell_y
    row[2] = np.log((x1 - x0) / stride)
    row[3] = np.log((y1 - y0) / stride)
    row[4] = objectness
    row[5] = person
    if other_class is not None:
        row[5 + other_class[0]] = other_class[1]
    return row


def constant_detector(path: Path, rows: dict[int, np.ndarray]) -> Path:
    anchors = np.array(sorted(rows), dtype=np.int64)
    indices = np.stack([np.zeros_like(anchors), anchors], axis=1)
    updates = np.stack([rows[a] for a in sorted(rows)]).astype(np.float32)
    nodes = [
        *_zero_times_sum("images"),
        _const("shape", np.array([1, ANCHORS, 85], dtype=np.int64)),
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"], value=helper.make_tensor("v", 1, [1], [0.0])),
        _const("indices", indices),
        _const("updates", updates),
        helper.make_node("ScatterND", ["zeros", "indices", "updates"], ["table"]),
        helper.make_node("Add", ["table", "input_dependency"], ["output"]),
    ]
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, ANCHORS, 85])]
    return _save(nodes, inputs, outputs, path)


def blob_detector(path: Path) -> Path:
    def scalar(prefix: str, profile: str, last: int) -> list[onnx.NodeProto]:
        return [
            helper.make_node("ArgMax", [profile], [f"{prefix}_i"], axis=2, keepdims=0, select_last_index=last),
            helper.make_node("Cast", [f"{prefix}_i"], [f"{prefix}_f"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", [f"{prefix}_f", "one_shape"], [prefix]),
        ]

    nodes = [
        _const("one_shape", np.array([1], dtype=np.int64)),
        _const("starts", np.array([0], dtype=np.int64)),
        _const("ends", np.array([1], dtype=np.int64)),
        _const("axes", np.array([1], dtype=np.int64)),
        helper.make_node("Slice", ["images", "starts", "ends", "axes"], ["channel"]),
        _const("threshold", np.float32(127.0)),
        helper.make_node("Greater", ["channel", "threshold"], ["bright_b"]),
        helper.make_node("Cast", ["bright_b"], ["bright"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["bright"], ["columns"], axes=[2], keepdims=0),  # (1, 1, 640)
        helper.make_node("ReduceMax", ["bright"], ["rows"], axes=[3], keepdims=0),
        helper.make_node("ReduceMax", ["bright"], ["found_s"], keepdims=0),
        helper.make_node("Reshape", ["found_s", "one_shape"], ["found"]),
        *scalar("x0", "columns", 0),
        *scalar("x1", "columns", 1),
        *scalar("y0", "rows", 0),
        *scalar("y1", "rows", 1),
        _const("one", np.array([1.0], dtype=np.float32)),
        _const("stride", np.array([8.0], dtype=np.float32)),
        # Pixel edges: the box spans [first bright, last bright + 1).
        helper.make_node("Add", ["x1", "one"], ["x1e"]),
        helper.make_node("Add", ["y1", "one"], ["y1e"]),
        helper.make_node("Sub", ["x1e", "x0"], ["w"]),
        helper.make_node("Sub", ["y1e", "y0"], ["h"]),
        helper.make_node("Add", ["x0", "x1e"], ["x2c"]),
        helper.make_node("Add", ["y0", "y1e"], ["y2c"]),
        _const("sixteen", np.array([16.0], dtype=np.float32)),
        helper.make_node("Div", ["x2c", "sixteen"], ["raw_x"]),  # centre / stride 8, cell (0, 0)
        helper.make_node("Div", ["y2c", "sixteen"], ["raw_y"]),
        helper.make_node("Div", ["w", "stride"], ["w8"]),
        helper.make_node("Div", ["h", "stride"], ["h8"]),
        helper.make_node("Log", ["w8"], ["raw_w"]),
        helper.make_node("Log", ["h8"], ["raw_h"]),
        _const("person", np.array([0.9], dtype=np.float32)),
        _const("others", np.zeros(79, dtype=np.float32)),
        helper.make_node("Concat", ["raw_x", "raw_y", "raw_w", "raw_h", "found", "person", "others"], ["row"], axis=0),
        _const("row_shape", np.array([1, 1, 85], dtype=np.int64)),
        helper.make_node("Reshape", ["row", "row_shape"], ["row3"]),
        _const("rest_shape", np.array([1, ANCHORS - 1, 85], dtype=np.int64)),
        helper.make_node("ConstantOfShape", ["rest_shape"], ["rest"], value=helper.make_tensor("v", 1, [1], [0.0])),
        helper.make_node("Concat", ["row3", "rest"], ["output"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, ANCHORS, 85])]
    return _save(nodes, inputs, outputs, path)


def simcc_tables(x_bins, y_bins, heights, width_bins: int = 576, height_bins: int = 768):
    """Constant SimCC maps with one peak per keypoint (background 0)."""
    simcc_x = np.zeros((1, len(x_bins), width_bins), dtype=np.float32)
    simcc_y = np.zeros((1, len(y_bins), height_bins), dtype=np.float32)
    for k, (bx, by, height) in enumerate(zip(x_bins, y_bins, heights, strict=True)):
        simcc_x[0, k, bx] = height
        simcc_y[0, k, by] = height
    return simcc_x, simcc_y


def planted_pose_model(
    path: Path,
    simcc_x: np.ndarray,
    simcc_y: np.ndarray,
    input_shape=(1, 3, 384, 288),
    names=("simcc_x", "simcc_y"),
) -> Path:
    nodes = [
        *_zero_times_sum("input"),
        _const("table_x", simcc_x),
        _const("table_y", simcc_y),
        helper.make_node("Add", ["table_x", "input_dependency"], [names[0]]),
        helper.make_node("Add", ["table_y", "input_dependency"], [names[1]]),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_shape))]
    outputs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, list(simcc_x.shape)),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, list(simcc_y.shape)),
    ]
    return _save(nodes, inputs, outputs, path)


def blob_pose_model(path: Path) -> Path:
    """First/last bright column and row of channel 0 (normalised value > 0, i.e. about 124 of 255)."""

    def axis_maps(profile: str, length: int, out: str) -> list[onnx.NodeProto]:
        # Each crop pixel becomes two SimCC bins; the ramp makes the last bright bin the arg-max.
        return [
            helper.make_node("Unsqueeze", [profile, "last_axis"], [f"{out}_u"]),
            helper.make_node("Concat", [f"{out}_u", f"{out}_u"], [f"{out}_pairs"], axis=3),
            _const(f"{out}_shape", np.array([0, 1, 2 * length], dtype=np.int64)),
            helper.make_node("Reshape", [f"{out}_pairs", f"{out}_shape"], [f"{out}_bins"]),
            _const(f"{out}_ramp", (1.0 + np.arange(2 * length, dtype=np.float32) / 1e4).reshape(1, 1, -1)),
            helper.make_node("Mul", [f"{out}_bins", f"{out}_ramp"], [f"{out}_last"]),
            helper.make_node("Expand", [f"{out}_bins", "first_shape"], [f"{out}_a"]),
            helper.make_node("Expand", [f"{out}_last", "second_shape"], [f"{out}_b"]),
            helper.make_node("Concat", [f"{out}_a", f"{out}_b"], [out], axis=1),
        ]

    nodes = [
        _const("starts", np.array([0], dtype=np.int64)),
        _const("ends", np.array([1], dtype=np.int64)),
        _const("axes", np.array([1], dtype=np.int64)),
        _const("last_axis", np.array([3], dtype=np.int64)),
        _const("first_shape", np.array([1, 67, 1], dtype=np.int64)),
        _const("second_shape", np.array([1, KEYPOINTS - 67, 1], dtype=np.int64)),
        helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["channel"]),
        _const("threshold", np.float32(0.0)),
        helper.make_node("Greater", ["channel", "threshold"], ["bright_b"]),
        helper.make_node("Cast", ["bright_b"], ["bright"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["bright"], ["columns"], axes=[2], keepdims=0),  # (N, 1, 288)
        helper.make_node("ReduceMax", ["bright"], ["rows"], axes=[3], keepdims=0),  # (N, 1, 384)
        *axis_maps("columns", 288, "simcc_x"),
        *axis_maps("rows", 384, "simcc_y"),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 384, 288])]
    outputs = [
        helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, ["batch", KEYPOINTS, 576]),
        helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, ["batch", KEYPOINTS, 768]),
    ]
    return _save(nodes, inputs, outputs, path)


# --- the stand-ins themselves have the real signatures --------------------------------------------------------


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
