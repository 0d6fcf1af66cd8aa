"""Axis-angle <-> unit quaternion (w, x, y, z), for filtering rotations over time."""

from __future__ import annotations

import torch

SMALL_ANGLE = 1e-6


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternions with w >= 0 (angles up to π)."""
    angle = axis_angle.norm(dim=-1, keepdim=True)
    half = angle / 2
    # sin(θ/2)/θ, with its Taylor series at 0 so a zero rotation stays exact.
    scale = torch.where(angle < SMALL_ANGLE, 0.5 - angle.square() / 48, torch.sin(half) / angle.clamp(min=SMALL_ANGLE))
    return torch.cat([torch.cos(half), axis_angle * scale], dim=-1)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (any norm, either sign) -> (..., 3) axis-angle with angle in [0, π]."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)  # q and -q are the same rotation; w >= 0 gives the short angle
    vector = q[..., 1:]
    sin_half = vector.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    near_zero = 2.0 / q[..., :1].clamp(min=SMALL_ANGLE)  # angle / sin(angle/2) -> 2 / cos(angle/2)
    scale = torch.where(sin_half < SMALL_ANGLE, near_zero, angle / sin_half.clamp(min=SMALL_ANGLE))
    return vector * scale


def make_continuous(quaternions: torch.Tensor) -> torch.Tensor:
    """(F, ..., 4) -> the same rotations with signs flipped so consecutive frames lie in the same hemisphere
    (q and −q are one rotation; averaging across a sign flip would cancel out)."""
    out = quaternions.clone()
    for frame in range(1, out.shape[0]):
        flip = (out[frame] * out[frame - 1]).sum(-1, keepdim=True) < 0
        out[frame] = torch.where(flip, -out[frame], out[frame])
    return out
