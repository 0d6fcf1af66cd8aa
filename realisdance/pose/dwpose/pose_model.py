"""DW-LL whole-body pose model (``dw-ll_ucoco_384.onnx``): person crops in, 133 keypoints per person out.

Input 'input' (N, 3, 384, 288): the warped, normalised crop (see preprocess). Outputs 'simcc_x' (N, 133, 576) and
'simcc_y' (N, 133, 768): SimCC bins at split ratio 2. Decoded crop coordinates go back through the crop's affine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import CheckpointError
from .config import DOWNLOAD_PAGE, NUM_WHOLEBODY_KEYPOINTS, POSE_FILE, DWPoseConfig
from .keypoints import WholeBodyPose
from .onnx_session import OnnxModel, open_onnx_model, run_batched
from .preprocess import crop_transform, pose_input
from .simcc import decode_simcc

DEFAULT_INPUT = (288, 384)  # (width, height)
OUTPUT_NAMES = ("simcc_x", "simcc_y")
GET_POSE = f"download {POSE_FILE} again from {DOWNLOAD_PAGE}."


class WholeBodyPoseModel:
    """The DW-LL ONNX model with its signature checked."""

    def __init__(self, model: OnnxModel, config: DWPoseConfig):
        self.model = model
        self.config = config
        self.input_size = _check_signature(model)  # (width, height)
        names = [spec.name for spec in model.outputs]
        self._order = [names.index(name) for name in OUTPUT_NAMES]

    @classmethod
    def open(cls, path: Path, config: DWPoseConfig, providers: Sequence[str] | None = None) -> WholeBodyPoseModel:
        return cls(open_onnx_model(path, "DWPose whole-body pose model", GET_POSE, providers), config)

    def estimate(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[list[WholeBodyPose]]:
        """Keypoints of every box (rows [x0, y0, x1, y1, score]) of every uint8 RGB image, crops batched."""
        jobs = [(frame, box) for frame, frame_boxes in enumerate(boxes) for box in frame_boxes]
        results: list[list[WholeBodyPose]] = [[] for _ in images]
        if not jobs:
            return results
        transforms = [crop_transform(box[:4], self.input_size, self.config.box_padding) for _, box in jobs]
        crops = np.stack(
            [
                pose_input(images[frame], t, self.config.pose_channels)
                for (frame, _), t in zip(jobs, transforms, strict=True)
            ]
        )
        outputs = run_batched(self.model, crops, self.config.batch_size)
        simcc_x, simcc_y = outputs[self._order[0]], outputs[self._order[1]]
        self._check_outputs(simcc_x, simcc_y, len(jobs))
        keypoints, scores = decode_simcc(simcc_x, simcc_y, self.config.simcc_split_ratio)
        for k, ((frame, box), transform) in enumerate(zip(jobs, transforms, strict=True)):
            pose = WholeBodyPose(
                keypoints=transform.to_image(keypoints[k].astype(np.float64)).astype(np.float32),
                scores=scores[k],
                box=np.asarray(box, dtype=np.float32),
            )
            results[frame].append(pose)
        return results

    def _check_outputs(self, simcc_x: np.ndarray, simcc_y: np.ndarray, count: int) -> None:
        ratio = self.config.simcc_split_ratio
        width, height = self.input_size
        want_x = (count, NUM_WHOLEBODY_KEYPOINTS, round(width * ratio))
        want_y = (count, NUM_WHOLEBODY_KEYPOINTS, round(height * ratio))
        if simcc_x.shape != want_x or simcc_y.shape != want_y:
            raise CheckpointError(
                f"{self.model.path} returned simcc_x {simcc_x.shape} and simcc_y {simcc_y.shape}; a 133-keypoint "
                f"DWPose model with a {height}x{width} input and split ratio {ratio:g} returns {want_x} and {want_y}. "
                f"Use {POSE_FILE} from {DOWNLOAD_PAGE}."
            )


def _check_signature(model: OnnxModel) -> tuple[int, int]:
    inputs, outputs = model.inputs, model.outputs
    names = {spec.name for spec in outputs}
    looks_right = (
        len(inputs) == 1 and len(inputs[0].shape) == 4 and inputs[0].shape[1] == 3 and set(OUTPUT_NAMES) <= names
    )
    if not looks_right:
        raise CheckpointError(
            f"{model.path} is not a DWPose whole-body model: it takes {', '.join(s.describe() for s in inputs)} and "
            f"returns {', '.join(s.describe() for s in outputs)}, but {POSE_FILE} takes 'input' (1, 3, 384, 288) and "
            f"returns 'simcc_x' (1, 133, 576) and 'simcc_y' (1, 133, 768). Use {POSE_FILE} from {DOWNLOAD_PAGE} "
            "(was the detector given as the pose model?)."
        )
    height, width = inputs[0].shape[2] or DEFAULT_INPUT[1], inputs[0].shape[3] or DEFAULT_INPUT[0]
    for spec in outputs:
        if spec.name in OUTPUT_NAMES and len(spec.shape) == 3 and spec.shape[1] not in (None, NUM_WHOLEBODY_KEYPOINTS):
            raise CheckpointError(
                f"{model.path} predicts {spec.shape[1]} keypoints; DWPose whole-body predicts 133 (COCO-WholeBody). "
                f"Use {POSE_FILE} from {DOWNLOAD_PAGE}."
            )
    return width, height
