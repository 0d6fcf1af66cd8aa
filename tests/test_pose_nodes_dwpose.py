"""DWPose and Draw Pose nodes in the ComfyUI double, on the ONNX stand-ins of tests/pose_assets.py (a "blob"
detector and pose model whose keypoints are the corners of the image's bright rectangle): the same result as the
core estimator, session caching across runs, progress and Cancel, model-folder choices and errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_double.latest_io import node_info
from PIL import Image
from pose_assets import write_dwpose_models

from realisdance.errors import CheckpointError, InputError
from realisdance.pose.dwpose import DWPoseEstimator, draw_pose_keypoint

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest_plugins = ["comfy_double.fixtures"]

WIDTH, HEIGHT = 96, 128
BOX = (20, 30, 71, 111)  # x0, y0, x1, y1 (exclusive) of the bright rectangle
DWPOSE_DEFAULTS = {"models": "dwpose", "keypoint_threshold": 0.3, "max_people": 0, "confidence": "binary",
                   "detector_channels": "bgr"}  # fmt: skip
DRAW_DEFAULTS = {"body": True, "hands": True, "face": True, "width": 0, "height": 0}


def _picture(frames: int = 1, bright: bool = True) -> np.ndarray:
    image = np.zeros((frames, HEIGHT, WIDTH, 3), np.uint8)
    if bright:
        x0, y0, x1, y1 = BOX
        image[:, y0:y1, x0:x1] = 230
    return image


@pytest.fixture
def pack(comfy):
    write_dwpose_models(comfy.model_dir("realisdance"))  # models/realisdance/dwpose/{yolox_l, dw-ll_ucoco_384}.onnx
    input_dir = Path(comfy.folder_paths.get_input_directory())
    Image.fromarray(_picture()[0]).save(input_dir / "person.png")
    Image.fromarray(_picture(bright=False)[0]).save(input_dir / "empty.png")
    return comfy.install_pack()


def _graph(image: str = "person.png", **dwpose) -> dict:
    return {
        "load": {"class_type": "LoadImage", "inputs": {"image": image}},
        "pose": {"class_type": "RealisDanceDWPose", "inputs": {"images": ["load", 0], **DWPOSE_DEFAULTS, **dwpose}},
        "draw": {"class_type": "RealisDanceDrawPose", "inputs": {"keypoints": ["pose", 0], **DRAW_DEFAULTS}},
    }


def _cache(pack):
    return sys.modules[f"{pack.module_name}.nodes.dwpose"].EstimatorCache


def test_schemas(pack):
    info = node_info(pack.node("RealisDanceDWPose"))
    assert info["output"] == ["POSE_KEYPOINT", "IMAGE", "STRING"]
    assert info["input"]["required"]["models"][1]["options"] == ["dwpose"]
    assert node_info(pack.node("RealisDanceDrawPose"))["output"] == ["IMAGE"]
    for name in ("RealisDanceDWPose", "RealisDanceDrawPose"):
        for input_name, (_, options) in node_info(pack.node(name))["input"]["required"].items():
            assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"


def test_keypoints_and_skeleton_match_the_core_estimator(comfy, pack):
    result = comfy.run(_graph(), targets=["draw"]).raise_error()
    keypoints, skeleton, provider = result.outputs["pose"]
    assert provider == "CPUExecutionProvider"
    assert len(keypoints) == 1 and (keypoints[0]["canvas_width"], keypoints[0]["canvas_height"]) == (WIDTH, HEIGHT)
    (person,) = keypoints[0]["people"]
    body = np.array(person["pose_keypoints_2d"]).reshape(18, 3)
    # The blob pose model puts the nose (and the rest of COCO 0..16) on the rectangle's first bright pixel.
    x0, y0 = BOX[:2]
    assert abs(body[0, 0] - x0) <= 1.0 and abs(body[0, 1] - y0) <= 1.0 and body[0, 2] == 1.0

    core = DWPoseEstimator.load(comfy.model_dir("realisdance") / "dwpose").run(torch.from_numpy(_picture()) / 255.0)
    assert keypoints == core.pose_keypoint
    torch.testing.assert_close(skeleton, core.skeleton)
    torch.testing.assert_close(result.output("draw"), draw_pose_keypoint(core.pose_keypoint))
    assert "1 of 1 frame" in result.ui["pose"]["realisdance_summary"][0]

    # A picture with nobody in it: an empty people list, and a black skeleton.
    keypoints, skeleton, _ = comfy.run(_graph("empty.png"), targets=["pose"]).raise_error().outputs["pose"]
    assert keypoints[0]["people"] == [] and skeleton.amax() == 0


def test_sessions_are_opened_once_and_reopened_when_a_file_changes(comfy, pack):
    cache = _cache(pack)
    comfy.run(_graph(), targets=["pose"]).raise_error()
    comfy.run(_graph(keypoint_threshold=0.5, confidence="score"), targets=["pose"]).raise_error()
    assert cache.opened == 1  # other settings reuse the open sessions
    scored = comfy.run(_graph(confidence="score"), targets=["pose"]).raise_error().output("pose")
    assert 0.3 < scored[0]["people"][0]["pose_keypoints_2d"][2] <= 1.1  # the run's own config was applied

    pose_file = comfy.model_dir("realisdance") / "dwpose" / "dw-ll_ucoco_384.onnx"
    stat = pose_file.stat()
    os.utime(pose_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    comfy.run(_graph(), targets=["pose"]).raise_error()
    assert cache.opened == 2


def test_progress_per_batch_and_cancel(comfy, pack):
    frames = torch.from_numpy(_picture(frames=10)).float() / 255.0
    comfy.nodes.NODE_CLASS_MAPPINGS["TestFrames"] = _frames_node(comfy, frames)
    pose = {"class_type": "RealisDanceDWPose", "inputs": {"images": ["src", 0], **DWPOSE_DEFAULTS}}
    graph = {"src": {"class_type": "TestFrames", "inputs": {}}, "pose": pose}
    result = comfy.run(graph, targets=["pose"]).raise_error()
    assert [(e.value, e.total) for e in comfy.progress_events if e.node_id == "pose"] == [(8, 10), (10, 10)]
    assert len(result.output("pose")) == 10

    def hook(value, total, preview, node_id=None):
        comfy.interrupt()

    comfy.utils.set_progress_bar_global_hook(hook)
    result = comfy.run(graph, targets=["pose"])
    comfy.utils.set_progress_bar_global_hook(None)
    assert (result.status, result.error_node) == ("interrupted", "pose")
    assert comfy.run(graph, targets=["pose"]).status == "success"


def _frames_node(comfy, frames):
    io = comfy.io

    class Frames(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="TestFrames", outputs=[io.Image.Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput(frames)

    return Frames


def test_missing_models_name_the_files_and_the_folder(comfy):
    Image.fromarray(_picture()[0]).save(Path(comfy.folder_paths.get_input_directory()) / "person.png")
    comfy.install_pack()
    result = comfy.run(_graph(), targets=["pose"])
    assert (result.status, result.error_node) == ("error", "pose") and isinstance(result.error, CheckpointError)
    assert str(comfy.models_dir / "realisdance" / "dwpose") in str(result.error)
    assert "yolox_l.onnx" in str(result.error) and "huggingface.co/yzd-v/DWPose" in str(result.error)


def test_a_wrong_file_is_named(comfy, pack):
    detector = comfy.model_dir("realisdance") / "dwpose" / "yolox_l.onnx"
    detector.write_bytes(b"not an onnx file")
    result = comfy.run(_graph(), targets=["pose"])
    assert isinstance(result.error, CheckpointError) and str(detector) in str(result.error)


def test_other_folders_are_listed_when_they_hold_both_files(comfy):
    write_dwpose_models(comfy.model_dir("realisdance") / "my_pose")  # my_pose/dwpose/*.onnx
    (comfy.model_dir("realisdance") / "half").mkdir()
    (comfy.model_dir("realisdance") / "half" / "yolox_l.onnx").write_bytes(b"")
    pack = comfy.install_pack()
    assert node_info(pack.node("RealisDanceDWPose"))["input"]["required"]["models"][1]["options"] == [
        "dwpose",
        "my_pose",
    ]


def test_draw_pose_toggles_and_size(comfy, pack):
    keypoints = comfy.run(_graph(), targets=["pose"]).raise_error().output("pose")
    VALUES = {"kp": keypoints}  # noqa: N806

    io = comfy.io

    class Keypoints(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="TestKeypoints", outputs=[io.Custom("POSE_KEYPOINT").Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput(VALUES["kp"])

    comfy.nodes.NODE_CLASS_MAPPINGS["TestKeypoints"] = Keypoints

    def draw(**inputs):
        graph = {"kp": {"class_type": "TestKeypoints", "inputs": {}},
                 "draw": {"class_type": "RealisDanceDrawPose", "inputs": {"keypoints": ["kp", 0], **DRAW_DEFAULTS,
                                                                           **inputs}}}  # fmt: skip
        return comfy.run(graph, targets=["draw"])

    everything = draw().raise_error().output("draw")
    no_body = draw(body=False).raise_error().output("draw")
    torch.testing.assert_close(no_body, draw_pose_keypoint(keypoints, body=False))
    assert (no_body.amax(-1) > 0).sum() < (everything.amax(-1) > 0).sum()
    assert draw(body=False, hands=False, face=False).raise_error().output("draw").amax() == 0
    assert draw(width=48, height=64).raise_error().output("draw").shape == (1, 64, 48, 3)
    result = draw(width=48)
    assert isinstance(result.error, InputError) and "both width and height" in str(result.error)
