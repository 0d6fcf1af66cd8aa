"""RealisDance Fit Motion through the ComfyUI test double: keypoints of a synthetic driving clip (the procedural body
waving its arms, one frame without a person) -> motion + QC preview -> render."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from comfy_double.latest_io import node_info
from pose_assets import install_body_folder, write_body_folder
from pose_motion_clips import arm_wave_pose_keypoint
from value_sources import source_class

from realisdance.errors import InputError
from realisdance.pose import load_smplx

pytest_plugins = ["comfy_double.fixtures"]

WIDTH, HEIGHT, FRAMES, EMPTY_FRAME = 96, 128, 6, 3
LOADER = {"class_type": "RealisDanceBodyModelLoader", "inputs": {"folder": "body_models", "gender": "neutral",
                                                                  "load_mano": False}}  # fmt: skip
VALUES: dict[str, object] = {}


@pytest.fixture(scope="module")
def body_folder(tmp_path_factory) -> Path:
    return write_body_folder(tmp_path_factory.mktemp("body_source"))


@pytest.fixture(scope="module")
def clip(body_folder):
    """The POSE_KEYPOINT of a known arm-waving motion (our own projection of the landmarks), and the frames."""
    frames = arm_wave_pose_keypoint(load_smplx(body_folder), FRAMES, WIDTH, HEIGHT, EMPTY_FRAME)
    return {"pose_keypoint": frames, "frames": torch.rand(FRAMES, HEIGHT, WIDTH, 3), "short": torch.rand(2, 8, 8, 3)}


@pytest.fixture
def pack(comfy, body_folder, clip):
    install_body_folder(comfy.models_dir, body_folder)
    loaded = comfy.install_pack()
    for type_name in ("POSE_KEYPOINT", "IMAGE"):
        comfy.nodes.NODE_CLASS_MAPPINGS[f"TestSource_{type_name}"] = source_class(comfy, type_name, VALUES)
    VALUES.clear()
    VALUES.update(clip)
    return loaded


def _graph(frames_key="frames") -> dict:
    return {
        "body": LOADER,
        "kp": {"class_type": "TestSource_POSE_KEYPOINT", "inputs": {"key": "pose_keypoint"}},
        "frames": {"class_type": "TestSource_IMAGE", "inputs": {"key": frames_key}},
        "fit": {
            "class_type": "RealisDanceFitMotion",
            "inputs": {
                "body_model": ["body", 0],
                "keypoints": ["kp", 0],
                "iterations": 80,
                "fov_degrees": 0.0,
                "fps": 24.0,
                "frames": ["frames", 0],
            },
        },  # fmt: skip
        "render": {
            "class_type": "RealisDanceRenderPose",
            "inputs": {"body_model": ["body", 0], "motion": ["fit", 0], "backend": "torch", "occlude_hands": True},
        },
    }


def test_schema_is_typed_and_documented(pack):
    info = node_info(pack.node("RealisDanceFitMotion"))
    assert info["output"] == ["REALISDANCE_SMPLX_SEQUENCE", "IMAGE"] and info["category"] == "RealisDance/pose"
    assert info["input"]["required"]["keypoints"][0] == "POSE_KEYPOINT"
    assert set(info["input"]["optional"]) == {"frames", "initial_motion"}
    for group in ("required", "optional"):
        for name, (_, options) in info["input"][group].items():
            assert options.get("tooltip"), name


def test_keypoints_to_motion_preview_and_render(comfy, pack, clip):
    result = comfy.run(_graph(), targets=["render"]).raise_error()
    motion, preview = result.outputs["fit"]
    assert motion.num_frames == FRAMES and motion.fps == 24.0 and (motion.width, motion.height) == (WIDTH, HEIGHT)
    assert preview.shape == (FRAMES, HEIGHT, WIDTH, 3) and float(preview.max()) <= 1.0
    summary = result.ui["fit"]["realisdance_summary"][0]
    assert f"{FRAMES} frames" in summary and "no person: 1 frame(s)" in summary
    smpl_cs = result.outputs["render"][0]
    assert smpl_cs.shape == (FRAMES, HEIGHT, WIDTH, 3) and float(smpl_cs[EMPTY_FRAME].amax()) > 0  # bridged, drawn
    assert torch.isfinite(motion.params.body_pose).all()


def test_preview_frames_of_another_video_are_refused(comfy, pack):
    result = comfy.run(_graph("short"), targets=["fit"])
    assert isinstance(result.error, InputError) and "different videos" in str(result.error)
