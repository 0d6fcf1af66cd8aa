"""Settings and fixed facts of the DWPose two-stage whole-body estimator (YOLOX-L person boxes + DW-LL SimCC pose).

The numbers are those of the public DWPose release (IDEA-Research/DWPose, the ``yzd-v/DWPose`` ONNX pair) and of
mmpose's RTMPose/DWPose configs: the detector keeps persons scored above 0.3 after NMS at IoU 0.45, the pose model
sees the box enlarged 1.25x (aspect fixed to 288:384) normalised with the ImageNet mean/std, and keypoints under
0.3 count as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DETECTOR_FILE = "yolox_l.onnx"
POSE_FILE = "dw-ll_ucoco_384.onnx"
DOWNLOAD_PAGE = "https://huggingface.co/yzd-v/DWPose"

NUM_WHOLEBODY_KEYPOINTS = 133  # COCO-WholeBody: 17 body, 6 feet, 68 face, 21 left hand, 21 right hand
YOLOX_STRIDES = (8, 16, 32)
YOLOX_CLASSES = 80  # COCO; class 0 is "person"
LETTERBOX_PAD_VALUE = 114

# mmpose normalisation of the RGB crop (ImageNet statistics on 0..255 values).
POSE_MEAN_RGB = (123.675, 116.28, 103.53)
POSE_STD_RGB = (58.395, 57.12, 57.375)

ChannelOrder = Literal["rgb", "bgr"]
Confidence = Literal["binary", "score"]


@dataclass(frozen=True)
class DWPoseConfig:
    """How detections are filtered and how the models are fed.

    detector_channels / pose_channels: the colour order each network receives. The defaults are the training
    conventions (mmdet's YOLOX reads BGR, mmpose's DW-LL converts to RGB); the ControlNet annotator feeds RGB to
    both, which ``detector_channels="rgb"`` reproduces.
    confidence: what POSE_KEYPOINT carries as ``c`` for a found keypoint: "binary" writes 1.0 like the common
    ComfyUI tools (whose readers drop points with c < 1), "score" the model's score. Missing points are always 0.
    batch_size: frames pushed through the networks together when their ONNX batch axis is dynamic.
    """

    person_score_threshold: float = 0.3
    nms_iou_threshold: float = 0.45
    keypoint_threshold: float = 0.3
    box_padding: float = 1.25
    simcc_split_ratio: float = 2.0
    detector_channels: ChannelOrder = "bgr"
    pose_channels: ChannelOrder = "rgb"
    confidence: Confidence = "binary"
    max_people: int | None = None
    batch_size: int = 8
