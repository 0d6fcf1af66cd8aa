"""DWPose on frames: detect people, estimate their 133 keypoints, and hand back POSE_KEYPOINT and skeleton images.

Typical use::

    estimator = DWPoseEstimator.load(models_dir)            # yolox_l.onnx + dw-ll_ucoco_384.onnx
    result = estimator.run(video, progress=callback)        # video: IMAGE (F, H, W, 3) float in [0, 1]
    result.pose_keypoint, result.skeleton, result.provider
    reference = estimator.reference_keypoints(image)        # the main person of one image (WholeBodyPose)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError
from .config import DETECTOR_FILE, POSE_FILE, DWPoseConfig
from .detector import PersonDetector
from .drawing import draw_pose_keypoint
from .keypoints import WholeBodyPose, pose_keypoint_video
from .model_files import find_dwpose_files
from .pose_model import WholeBodyPoseModel

ProgressCallback = Callable[[int, int], None]  # (frames done, total); may raise to cancel


@dataclass(frozen=True)
class DWPoseResult:
    """people: per frame, the detected persons; pose_keypoint: ComfyUI POSE_KEYPOINT; skeleton: IMAGE or None."""

    people: list[list[WholeBodyPose]]
    pose_keypoint: list[dict[str, Any]]
    skeleton: torch.Tensor | None
    provider: str


class DWPoseEstimator:
    def __init__(self, detector: PersonDetector, pose_model: WholeBodyPoseModel, config: DWPoseConfig):
        self.detector = detector
        self.pose_model = pose_model
        self.config = config

    @classmethod
    def load(
        cls,
        folder: str | Path,
        config: DWPoseConfig | None = None,
        providers: Sequence[str] | None = None,
        detector_file: str = DETECTOR_FILE,
        pose_file: str = POSE_FILE,
    ) -> DWPoseEstimator:
        """Open both models from a folder (providers default: CUDA when available, else CPU)."""
        files = find_dwpose_files(folder, detector_file, pose_file)
        return cls.from_files(files.detector, files.pose, config, providers)

    @classmethod
    def from_files(
        cls,
        detector_path: str | Path,
        pose_path: str | Path,
        config: DWPoseConfig | None = None,
        providers: Sequence[str] | None = None,
    ) -> DWPoseEstimator:
        config = config or DWPoseConfig()
        detector = PersonDetector.open(Path(detector_path), config, providers)
        pose_model = WholeBodyPoseModel.open(Path(pose_path), config, providers)
        return cls(detector, pose_model, config)

    @property
    def provider(self) -> str:
        """The execution provider really in use (onnxruntime falls back to the CPU when CUDA cannot start)."""
        used = {self.detector.model.provider, self.pose_model.model.provider}
        return " + ".join(sorted(used))

    def estimate(self, images: Any, progress: ProgressCallback | None = None) -> list[list[WholeBodyPose]]:
        """Persons of every frame, best detection first. progress(done, total) follows each batch of frames."""
        frames = as_uint8_frames(images)
        total, step = len(frames), max(1, self.config.batch_size)
        people: list[list[WholeBodyPose]] = []
        for start in range(0, total, step):
            chunk = [frame for frame in frames[start : start + step]]
            boxes = self.detector.detect(chunk)
            people += self.pose_model.estimate(chunk, boxes)
            if progress is not None:
                progress(len(people), total)
        return people

    def run(self, images: Any, draw: bool = True, progress: ProgressCallback | None = None) -> DWPoseResult:
        """Keypoints as POSE_KEYPOINT (pixels of the input frames) and, if ``draw``, the skeleton video."""
        frames = as_uint8_frames(images)
        height, width = frames.shape[1:3]
        people = self.estimate(frames, progress)
        keypoints = pose_keypoint_video(people, width, height, self.config.keypoint_threshold, self.config.confidence)
        skeleton = draw_pose_keypoint(keypoints) if draw else None
        return DWPoseResult(people=people, pose_keypoint=keypoints, skeleton=skeleton, provider=self.provider)

    def reference_keypoints(self, image: Any) -> WholeBodyPose:
        """The main person (largest box) of a single reference image; an error when there is nobody."""
        frames = as_uint8_frames(image)
        if len(frames) != 1:
            raise InputError(f"Give one reference image, not a batch of {len(frames)}.")
        people = self.estimate(frames)[0]
        if not people:
            raise InputError(
                "DWPose found no person in the reference image; use an image where the person is fully visible "
                "and not too small."
            )
        return max(people, key=lambda pose: pose.box_area)


def as_uint8_frames(images: Any) -> np.ndarray:
    """(F, H, W, 3) uint8 RGB from an IMAGE tensor / float array in [0, 1] or a uint8 array; one image allowed."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu()
        array = images.float().numpy() if images.is_floating_point() else images.numpy()
    else:
        array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape:
        raise InputError(
            f"DWPose takes RGB images (frames, height, width, 3); got shape {tuple(array.shape)}. "
            "Connect an IMAGE (a video's frames or one picture)."
        )
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    return np.round(np.clip(array.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
