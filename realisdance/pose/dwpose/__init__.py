"""DWPose whole-body keypoints with onnxruntime (user-supplied ``yolox_l.onnx`` + ``dw-ll_ucoco_384.onnx``).

Gives ComfyUI POSE_KEYPOINT (OpenPose-18 body, 70-point face, 21-point hands, in pixels), the standard coloured
skeleton drawing, and the main person's keypoints of a reference image (for shape fitting). See estimator.py.
"""

from .config import DETECTOR_FILE, DOWNLOAD_PAGE, POSE_FILE, DWPoseConfig
from .detector import PersonDetector, decode_yolox, non_max_suppression
from .drawing import BODY_COLOURS, BODY_LIMBS, HAND_BONES, draw_pose_keypoint, hand_bone_colour
from .estimator import DWPoseEstimator, DWPoseResult, ProgressCallback, as_uint8_frames
from .keypoints import (
    OPENPOSE_FROM_COCO,
    OpenPosePerson,
    WholeBodyPose,
    people_from_frame,
    pose_keypoint_frame,
    pose_keypoint_video,
    to_openpose,
)
from .model_files import DWPoseFiles, find_dwpose_files
from .onnx_session import choose_providers
from .pose_model import WholeBodyPoseModel
from .preprocess import CropTransform, crop_transform, letterbox, pose_input
from .simcc import decode_simcc

__all__ = [
    "BODY_COLOURS",
    "BODY_LIMBS",
    "DETECTOR_FILE",
    "DOWNLOAD_PAGE",
    "HAND_BONES",
    "OPENPOSE_FROM_COCO",
    "POSE_FILE",
    "CropTransform",
    "DWPoseConfig",
    "DWPoseEstimator",
    "DWPoseFiles",
    "DWPoseResult",
    "OpenPosePerson",
    "PersonDetector",
    "ProgressCallback",
    "WholeBodyPose",
    "WholeBodyPoseModel",
    "as_uint8_frames",
    "choose_providers",
    "crop_transform",
    "decode_simcc",
    "decode_yolox",
    "draw_pose_keypoint",
    "find_dwpose_files",
    "hand_bone_colour",
    "letterbox",
    "non_max_suppression",
    "people_from_frame",
    "pose_input",
    "pose_keypoint_frame",
    "pose_keypoint_video",
    "to_openpose",
]
