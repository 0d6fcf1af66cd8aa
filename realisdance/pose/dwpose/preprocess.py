"""Image preparation for the two networks and the maps back to image pixels.

* Detector: the frame is resized by one ratio so it fits the square input, placed at the top-left corner and
  padded with grey 114 (YOLOX's letterbox). Boxes come back by dividing by that ratio.
* Pose model: each person box is enlarged (padding 1.25), widened or heightened to the input's 288:384 aspect,
  and warped (scale + translation, no rotation) so the box centre lands on the input centre. Keypoints come back
  through the inverse of the same affine map.
Images are uint8 (H, W, 3) RGB throughout; channel order for each network is chosen here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import LETTERBOX_PAD_VALUE, POSE_MEAN_RGB, POSE_STD_RGB, ChannelOrder


def in_channel_order(image_rgb: np.ndarray, order: ChannelOrder) -> np.ndarray:
    return image_rgb[..., ::-1] if order == "bgr" else image_rgb


def letterbox(image_rgb: np.ndarray, size: tuple[int, int], order: ChannelOrder) -> tuple[np.ndarray, float]:
    """(3, H_in, W_in) float32 detector input with unnormalised 0..255 values, and the resize ratio.

    size is the network's (height, width).
    """
    height, width = image_rgb.shape[:2]
    ratio = min(size[0] / height, size[1] / width)
    new_w, new_h = max(1, int(width * ratio)), max(1, int(height * ratio))
    resized = cv2.resize(image_rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    planes = np.full((3, size[0], size[1]), LETTERBOX_PAD_VALUE, dtype=np.float32)
    planes[:, :new_h, :new_w] = in_channel_order(resized, order).transpose(2, 0, 1)
    return planes, ratio


@dataclass(frozen=True)
class CropTransform:
    """The map between image pixels and the pose input of one person box.

    center: box centre (x, y) in image pixels; scale: (w, h) of the image region the input covers, already at
    the input's aspect ratio; input_size: the network's (width, height).
    """

    center: np.ndarray
    scale: np.ndarray
    input_size: tuple[int, int]

    @property
    def zoom(self) -> float:
        """Input pixels per image pixel (the same on both axes)."""
        return self.input_size[0] / float(self.scale[0])

    def matrix(self) -> np.ndarray:
        """2x3 affine matrix taking image pixels to input pixels."""
        zoom = self.zoom
        offset = np.array(self.input_size, dtype=np.float64) / 2.0 - zoom * self.center
        return np.array([[zoom, 0.0, offset[0]], [0.0, zoom, offset[1]]], dtype=np.float64)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) input-pixel coordinates back to image pixels."""
        return (points - np.array(self.input_size) / 2.0) / self.zoom + self.center


def crop_transform(box_xyxy: np.ndarray, input_size: tuple[int, int], padding: float) -> CropTransform:
    """Centre/scale of a person box enlarged by ``padding`` and fitted to the input's aspect ratio."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    center = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    width, height = max(x1 - x0, 1.0) * padding, max(y1 - y0, 1.0) * padding
    aspect = input_size[0] / input_size[1]
    if width > height * aspect:
        height = width / aspect
    else:
        width = height * aspect
    return CropTransform(center=center, scale=np.array([width, height]), input_size=input_size)


def pose_input(image_rgb: np.ndarray, transform: CropTransform, order: ChannelOrder) -> np.ndarray:
    """(3, H_in, W_in) float32 normalised crop; outside the image is black, as in the reference warp."""
    crop = cv2.warpAffine(
        image_rgb,
        transform.matrix(),
        transform.input_size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    planes = in_channel_order(crop, order).transpose(2, 0, 1).astype(np.float32)
    mean = np.array(POSE_MEAN_RGB, dtype=np.float32)[:, None, None]
    std = np.array(POSE_STD_RGB, dtype=np.float32)[:, None, None]
    return (planes - mean) / std
