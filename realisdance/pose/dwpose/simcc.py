"""SimCC decoding: each keypoint's x and y are classified separately over sub-pixel bins.

simcc_x (N, K, W_in * r) and simcc_y (N, K, H_in * r) hold one score per bin, r = split ratio (2.0 for DW-LL, so
bins are half input pixels). The location is the arg-max bin / r; the keypoint's score is the smaller of the
two maxima (both axes must agree that the point is there). A non-positive score marks the point as absent.
"""

from __future__ import annotations

import numpy as np


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, K, 2) in input pixels and scores (N, K); absent points sit at (-1, -1)."""
    x_bin = simcc_x.argmax(axis=-1)
    y_bin = simcc_y.argmax(axis=-1)
    scores = np.minimum(simcc_x.max(axis=-1), simcc_y.max(axis=-1)).astype(np.float32)
    keypoints = np.stack([x_bin, y_bin], axis=-1).astype(np.float32) / np.float32(split_ratio)
    keypoints[scores <= 0.0] = -1.0
    return keypoints, scores
