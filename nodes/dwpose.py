"""DWPose nodes: whole-body keypoints (POSE_KEYPOINT) and the coloured skeleton (thin V3 schemas around
realisdance.pose.dwpose)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from realisdance.errors import CheckpointError, InputError
from realisdance.pose.dwpose import (
    DWPoseConfig,
    DWPoseEstimator,
    PersonDetector,
    WholeBodyPoseModel,
    draw_pose_keypoint,
    find_dwpose_files,
)

from . import host
from .host import io
from .pose_types import CATEGORY, PoseKeypointType

# The ONNX pair goes to models/realisdance/<folder>/ (flat, or in its dwpose/ subfolder). The default folder is
# always offered, so a user without the files gets an error saying where to put them instead of an empty list.
DEFAULT_DWPOSE_FOLDER = "dwpose"
CHANNEL_ORDERS = ["bgr", "rgb"]
CONFIDENCES = ["binary", "score"]


def _holds_dwpose(folder: Path) -> bool:
    try:
        find_dwpose_files(folder)
    except CheckpointError:  # not (or not completely) a DWPose folder: left out of the list
        return False
    return True


def dwpose_folders() -> list[str]:
    """Sub-folders of models/realisdance holding the DWPose pair, the default folder first."""
    return host.model_subfolder_choices(_holds_dwpose, DEFAULT_DWPOSE_FOLDER)


def resolve_dwpose_folder(name: str) -> Path:
    """The first models/realisdance/<name> holding the pair; else the default path, for the error to name."""
    return host.resolve_model_subfolder(name, _holds_dwpose)


@dataclass(frozen=True)
class _LoadedModels:
    detector: PersonDetector
    pose: WholeBodyPoseModel


class EstimatorCache:
    """The open ONNX sessions of the last folder used (V3 nodes are stateless classes, so this is class-level).

    Opening both sessions takes seconds on a GPU; the key includes each file's size and modification time, so a
    replaced file is reopened. Only one pair is kept: a second folder replaces the first.
    """

    _key: ClassVar[tuple | None] = None
    _models: ClassVar[_LoadedModels | None] = None
    opened: ClassVar[int] = 0  # how many times sessions were opened (tests check the reuse)

    @classmethod
    def estimator(cls, folder: Path, config: DWPoseConfig) -> DWPoseEstimator:
        files = find_dwpose_files(folder)
        key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (files.detector, files.pose))
        if key != cls._key or cls._models is None:
            cls._key, cls._models = None, None  # drop the old sessions before opening new ones
            loaded = DWPoseEstimator.from_files(files.detector, files.pose, config)
            cls._models = _LoadedModels(loaded.detector, loaded.pose_model)
            cls._key = key
            cls.opened += 1
        # The settings only steer pre/post-processing: wrap the cached sessions with this run's config.
        models = cls._models
        return DWPoseEstimator(
            PersonDetector(models.detector.model, config), WholeBodyPoseModel(models.pose.model, config), config
        )

    @classmethod
    def clear(cls) -> None:
        cls._key, cls._models = None, None


class RealisDanceDWPose(io.ComfyNode):
    """DWPose whole-body keypoints of every frame, as POSE_KEYPOINT, plus the standard skeleton drawing."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceDWPose",
            display_name="RealisDance DWPose",
            category=CATEGORY,
            description=(
                "Detects people and their 133 whole-body keypoints with the DWPose ONNX pair (yolox_l.onnx + "
                "dw-ll_ucoco_384.onnx from huggingface.co/yzd-v/DWPose, in models/realisdance/dwpose/). Outputs "
                "POSE_KEYPOINT (OpenPose layout, pixels) for RealisDance Fit Reference Shape and the skeleton images. "
                "Needs onnxruntime (or onnxruntime-gpu)."
            ),
            inputs=[
                io.Image.Input("images", tooltip="One image (the reference) or a video's frames."),
                io.Combo.Input(
                    "models",
                    options=dwpose_folders(),
                    default=DEFAULT_DWPOSE_FOLDER,
                    tooltip=(
                        "A folder of models/realisdance/ holding yolox_l.onnx and dw-ll_ucoco_384.onnx (directly or in "
                        "a dwpose/ subfolder). Folders holding both are listed."
                    ),
                ),
                io.Float.Input(
                    "keypoint_threshold",
                    default=DWPoseConfig().keypoint_threshold,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Keypoints scored below this count as missing (DWPose's own value is 0.3).",
                ),
                io.Int.Input(
                    "max_people",
                    default=0,
                    min=0,
                    max=100,
                    tooltip="Keep at most this many people per frame, best detections first; 0 keeps all.",
                ),
                io.Combo.Input(
                    "confidence",
                    options=CONFIDENCES,
                    default="binary",
                    tooltip=(
                        "What POSE_KEYPOINT stores as a found point's confidence: binary writes 1.0 like the common "
                        "ComfyUI pose tools, score the model's score."
                    ),
                ),
                io.Combo.Input(
                    "detector_channels",
                    options=CHANNEL_ORDERS,
                    default="bgr",
                    tooltip=(
                        "Colour order fed to the person detector: bgr as YOLOX was trained; rgb reproduces the "
                        "ControlNet / comfyui_controlnet_aux annotators."
                    ),
                ),
            ],
            outputs=[
                PoseKeypointType.Output(display_name="keypoints", tooltip="POSE_KEYPOINT: one dict per frame."),
                io.Image.Output(display_name="skeleton", tooltip="The OpenPose-style skeletons on black."),
                io.String.Output(display_name="provider", tooltip="The onnxruntime execution provider really used."),
            ],
        )

    @classmethod
    def execute(
        cls,
        images: torch.Tensor,
        models: str,
        keypoint_threshold: float = 0.3,
        max_people: int = 0,
        confidence: str = "binary",
        detector_channels: str = "bgr",
    ) -> io.NodeOutput:
        config = DWPoseConfig(
            keypoint_threshold=keypoint_threshold,
            max_people=max_people or None,
            confidence=confidence,
            detector_channels=detector_channels,
        )
        estimator = EstimatorCache.estimator(resolve_dwpose_folder(models), config)
        frames = images.shape[0] if isinstance(images, torch.Tensor) and images.dim() == 4 else 1
        result = estimator.run(images, draw=True, progress=host.progress_reporter(frames))
        found = sum(1 for frame in result.pose_keypoint if frame["people"])
        line = f"people found in {found} of {len(result.pose_keypoint)} frame(s) on {result.provider}"
        return io.NodeOutput(result.pose_keypoint, result.skeleton, result.provider, ui={"realisdance_summary": [line]})


class RealisDanceDrawPose(io.ComfyNode):
    """Draw POSE_KEYPOINT (from DWPose or any OpenPose-style tool) as the standard coloured skeleton."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceDrawPose",
            display_name="RealisDance Draw Pose Keypoints",
            category=CATEGORY,
            description=(
                "Draws POSE_KEYPOINT as OpenPose-style skeletons on black: body limbs in the 18 OpenPose colours, "
                "hand bones around the colour wheel, face points in white."
            ),
            inputs=[
                PoseKeypointType.Input("keypoints", tooltip="POSE_KEYPOINT, e.g. from RealisDance DWPose."),
                io.Boolean.Input("body", default=True, tooltip="Draw the body limbs and joints."),
                io.Boolean.Input("hands", default=True, tooltip="Draw the hand bones and joints."),
                io.Boolean.Input("face", default=True, tooltip="Draw the face points."),
                io.Int.Input(
                    "width",
                    default=0,
                    min=0,
                    max=8192,
                    tooltip="Output width in pixels; 0 uses the keypoints' canvas (with height 0 too).",
                ),
                io.Int.Input(
                    "height",
                    default=0,
                    min=0,
                    max=8192,
                    tooltip="Output height in pixels; 0 uses the keypoints' canvas (with width 0 too).",
                ),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="The skeletons, one image per frame.")],
        )

    @classmethod
    def execute(
        cls, keypoints, body: bool = True, hands: bool = True, face: bool = True, width: int = 0, height: int = 0
    ) -> io.NodeOutput:
        if (width == 0) != (height == 0):
            raise InputError(f"Give both width and height, or leave both at 0 (got {width}x{height}).")
        size = (width, height) if width else None
        return io.NodeOutput(draw_pose_keypoint(keypoints, size=size, body=body, hands=hands, face=face))


NODES: list[type[io.ComfyNode]] = [RealisDanceDWPose, RealisDanceDrawPose]
