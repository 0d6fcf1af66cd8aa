"""A starting pose when no GVHMR estimate of the reference frame is given: neutral body, facing or turned away.

The neutral SMPL-X faces +z with y up; the OpenCV camera looks along +z with y down. A body facing the camera
is therefore rotated by π about x. When the person's right shoulder appears right of the left one in the image,
they face away from the camera: that is a further π about the camera's vertical, i.e. π about z in total.
Translation then comes in closed form from the keypoints: for a camera-space point P + t projecting to pixel
(x, y), (x − cx)/fx · (P_z + t_z) = P_x + t_x (and likewise for y) is linear in t, so t solves a weighted
least-squares problem.
"""

from __future__ import annotations

import math

import torch

from ...errors import InputError

FACING_CAMERA = (math.pi, 0.0, 0.0)
FACING_AWAY = (0.0, 0.0, math.pi)
_R_SHOULDER, _L_SHOULDER, _R_HIP, _L_HIP = 2, 5, 8, 11  # OpenPose-18
MIN_DEPTH = 0.1  # metres: a closed-form solution nearer than this means the keypoints are degenerate


def initial_orientation(body: torch.Tensor, min_confidence: float) -> torch.Tensor:
    """(3,) axis-angle from OpenPose-18 (18, 3) body keypoints: facing the camera unless left/right are swapped."""
    for right, left in ((_R_SHOULDER, _L_SHOULDER), (_R_HIP, _L_HIP)):
        if body[right, 2] >= min_confidence and body[left, 2] >= min_confidence:
            away = bool(body[right, 0] > body[left, 0])
            return torch.tensor(FACING_AWAY if away else FACING_CAMERA)
    return torch.tensor(FACING_CAMERA)


def solve_translation(
    points: torch.Tensor, pixels: torch.Tensor, weights: torch.Tensor, intrinsics: torch.Tensor
) -> torch.Tensor:
    """(3,) translation t that best maps camera-space (N, 3) points + t onto (N, 2) pixels, with (N,) weights."""
    used = weights > 0
    if int(used.sum()) < 3:
        raise InputError(
            "Fewer than 3 confident body keypoints: the reference image needs a visible body (or give its GVHMR "
            "estimate as the initial pose)."
        )
    points, pixels, w = points[used].double(), pixels[used].double(), weights[used].double().sqrt()
    k = intrinsics.double()
    u = (pixels[:, 0] - k[0, 2]) / k[0, 0]
    v = (pixels[:, 1] - k[1, 2]) / k[1, 1]
    ones, zeros = torch.ones_like(u), torch.zeros_like(u)
    rows = torch.cat([torch.stack([ones, zeros, -u], -1), torch.stack([zeros, ones, -v], -1)])  # unknowns tx, ty, tz
    rhs = torch.cat([u * points[:, 2] - points[:, 0], v * points[:, 2] - points[:, 1]])
    weight = torch.cat([w, w])[:, None]
    solution = torch.linalg.lstsq(rows * weight, (rhs * weight[:, 0])[:, None]).solution[:, 0]
    if not bool(torch.isfinite(solution).all()) or float(points[:, 2].mean() + solution[2]) < MIN_DEPTH:
        raise InputError(
            "The reference keypoints do not determine where the body is (they may all lie on a line); use an "
            "image with the whole body visible, or give its GVHMR estimate as the initial pose."
        )
    return solution.float()
