"""YOLOX person detector (``yolox_l.onnx``): letterboxed frame in, person boxes in image pixels out.

The exported YOLOX head gives, for each anchor of the stride-8/16/32 grids (80² + 40² + 20² = 8400 at 640²),
raw (x, y, log w, log h) relative to its grid cell plus objectness and 80 class probabilities. A box is
centre = (raw_xy + cell) * stride, size = exp(raw_wh) * stride; a person's score is objectness x class-0
probability. Persons above the score threshold survive greedy NMS; other classes are never considered (YOLOX's
NMS is per class, so dropping them first changes nothing).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import CheckpointError
from .config import DETECTOR_FILE, DOWNLOAD_PAGE, YOLOX_CLASSES, YOLOX_STRIDES, DWPoseConfig
from .onnx_session import OnnxModel, open_onnx_model, run_batched
from .preprocess import letterbox

DEFAULT_INPUT = (640, 640)
YOLOX_OUTPUTS = 5 + YOLOX_CLASSES  # box (4), objectness, class probabilities
GET_DETECTOR = f"download {DETECTOR_FILE} again from {DOWNLOAD_PAGE}."


@functools.lru_cache(maxsize=4)
def anchor_grid(input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) cell indices (x, y) and (A,) strides, in YOLOX's output order (stride by stride, row-major)."""
    cells, strides = [], []
    for stride in YOLOX_STRIDES:
        rows, cols = input_size[0] // stride, input_size[1] // stride
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full(rows * cols, stride))
    grid = np.concatenate(cells).astype(np.float64), np.concatenate(strides).astype(np.float64)
    for array in grid:
        array.setflags(write=False)  # shared through the cache
    return grid


def decode_yolox(
    raw: np.ndarray, input_size: tuple[int, int], anchors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes (A, 4) xyxy in input pixels and scores (A,) from one image's raw output (A, 5 + classes).

    anchors: decode only these anchor indices (the boxes and scores then follow their order).
    """
    cells, strides = anchor_grid(input_size)
    if anchors is not None:
        raw, cells, strides = raw[anchors], cells[anchors], strides[anchors]
    raw = raw.astype(np.float64)
    centre = (raw[:, :2] + cells) * strides[:, None]
    size = np.exp(np.minimum(raw[:, 2:4], 20.0)) * strides[:, None]  # clamp: a garbage logit must not overflow
    boxes = np.concatenate([centre - size / 2.0, centre + size / 2.0], axis=1)
    return boxes, raw[:, 4] * raw[:, 5]


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    top_left = np.maximum(box[:2], others[:, :2])
    bottom_right = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-9)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of kept boxes, best first: each box removes the lower-scored ones overlapping it above the IoU."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.array(keep, dtype=np.int64)


class PersonDetector:
    """The YOLOX ONNX model with its signature checked; ``detect`` returns (n, 5) [x0, y0, x1, y1, score]."""

    def __init__(self, model: OnnxModel, config: DWPoseConfig):
        self.model = model
        self.config = config
        self.input_size = _check_signature(model)
        self.num_anchors = len(anchor_grid(self.input_size)[1])

    @classmethod
    def open(cls, path: Path, config: DWPoseConfig, providers: Sequence[str] | None = None) -> PersonDetector:
        return cls(open_onnx_model(path, "YOLOX person detector", GET_DETECTOR, providers), config)

    def detect(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Person boxes of each uint8 RGB frame, in its own pixels, best score first."""
        prepared = [letterbox(image, self.input_size, self.config.detector_channels) for image in images]
        raw = run_batched(self.model, np.stack([inputs for inputs, _ in prepared]), self.config.batch_size)[0]
        if raw.ndim != 3 or raw.shape[1:] != (self.num_anchors, YOLOX_OUTPUTS):
            raise CheckpointError(
                f"{self.model.path} returned {raw.shape}, but a YOLOX detector with a {self.input_size} input "
                f"returns (batch, {self.num_anchors}, {YOLOX_OUTPUTS}). {GET_DETECTOR}"
            )
        return [self._people(raw[i], ratio) for i, (_, ratio) in enumerate(prepared)]

    def _people(self, raw: np.ndarray, ratio: float) -> np.ndarray:
        person_scores = raw[:, 4].astype(np.float64) * raw[:, 5]
        candidates = np.flatnonzero(person_scores > self.config.person_score_threshold)
        boxes, scores = decode_yolox(raw, self.input_size, candidates)
        kept = non_max_suppression(boxes, scores, self.config.nms_iou_threshold)
        if self.config.max_people is not None:
            kept = kept[: self.config.max_people]
        return np.concatenate([boxes[kept] / ratio, scores[kept, None]], axis=1).astype(np.float32)


def _check_signature(model: OnnxModel) -> tuple[int, int]:
    """The (height, width) of the detector input, after checking it is a YOLOX-shaped graph."""
    inputs, outputs = model.inputs, model.outputs
    image_input = len(inputs) == 1 and len(inputs[0].shape) == 4 and inputs[0].shape[1] == 3
    height = (inputs[0].shape[2] if image_input else None) or DEFAULT_INPUT[0]
    width = (inputs[0].shape[3] if image_input else None) or DEFAULT_INPUT[1]
    anchors = len(anchor_grid((height, width))[1])
    looks_right = (
        image_input
        and height % 32 == 0
        and width % 32 == 0
        and len(outputs) >= 1
        and len(outputs[0].shape) == 3
        and outputs[0].shape[1] in (None, anchors)
        and outputs[0].shape[2] in (None, YOLOX_OUTPUTS)
    )
    if not looks_right:
        raise CheckpointError(
            f"{model.path} is not a YOLOX person detector: it takes {', '.join(s.describe() for s in inputs)} and "
            f"returns {', '.join(s.describe() for s in outputs)}, but {DETECTOR_FILE} takes 'images' (1, 3, 640, 640) "
            f"and returns 'output' (1, 8400, 85). Use {DETECTOR_FILE} from {DOWNLOAD_PAGE} (was the pose model "
            "given as the detector?)."
        )
    return height, width
