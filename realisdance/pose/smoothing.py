"""Temporal smoothing of a driving SMPL-X sequence (per-frame estimates jitter).

Rotations (global orientation, body, jaw and eye joints, axis-angle hands) are filtered as unit quaternions:
signs are made continuous over time (q and −q are one rotation), a Gaussian window averages them and the result
is renormalised, which for the small differences between neighbouring frames is the rotation mean. Translation,
PCA hand coefficients and expression are filtered linearly; betas are left alone (constant per person).
The window is mirrored at the ends (odd reflection: 2·x₀ − x₋ₖ), so a steady motion keeps its speed up to the
first and last frame. Hard cuts (a jump of the root larger than a threshold) split the sequence, and each part is
smoothed on its own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ..errors import InputError
from .quaternions import axis_angle_to_quaternion, make_continuous, quaternion_to_axis_angle
from .smplx_params import SMPLXParams, SMPLXSequence

_ROTATIONS = ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose")
_LINEAR = ("transl", "expression")
_HANDS = ("left_hand_pose", "right_hand_pose")


@dataclass(frozen=True)
class SmoothingOptions:
    """strength: Gaussian sigma in frames (0 = off; 1-2 removes estimator jitter, 3+ also softens fast moves).
    smooth_translation: also filter transl. cut_rotation_deg / cut_translation: a frame whose root orientation
    turns more than this many degrees, or whose transl moves more than this many metres, since the previous
    frame starts a new shot (None: never split)."""

    strength: float = 1.5
    smooth_translation: bool = True
    cut_rotation_deg: float | None = 60.0
    cut_translation: float | None = 0.5

    def __post_init__(self) -> None:
        if not math.isfinite(self.strength) or self.strength < 0:
            raise InputError(f"Smoothing strength must be 0 or more frames, got {self.strength}.")
        for name in ("cut_rotation_deg", "cut_translation"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputError(f"{name} must be positive or None, got {value}.")


def smooth_sequence(sequence: SMPLXSequence, options: SmoothingOptions | None = None) -> SMPLXSequence:
    """The same sequence (same frame count, camera and betas) with temporally smoothed parameters."""
    options = options or SmoothingOptions()
    if not isinstance(sequence, SMPLXSequence):
        raise InputError(f"Smoothing needs an SMPL-X sequence, got {type(sequence).__name__}.")
    params = sequence.params
    if options.strength == 0 or params.num_frames < 3:
        return sequence
    segments = shot_boundaries(params, options)
    changes = {}
    for name in (*_ROTATIONS, *_LINEAR, *_HANDS):
        value = getattr(params, name)
        if value is None or (name == "transl" and not options.smooth_translation):
            continue
        rotation = name in _ROTATIONS or (name in _HANDS and not params.hand_pose_pca)
        parts = [_smooth_part(value[a:b], options.strength, rotation) for a, b in segments]
        changes[name] = torch.cat(parts)
    return dataclasses.replace(sequence, params=dataclasses.replace(params, **changes))


def shot_boundaries(params: SMPLXParams, options: SmoothingOptions) -> list[tuple[int, int]]:
    """[(start, end)] frame ranges between hard cuts."""
    cuts = torch.zeros(params.num_frames, dtype=torch.bool)
    q = axis_angle_to_quaternion(params.global_orient.double())
    if options.cut_rotation_deg is not None:
        cosine = (q[1:] * q[:-1]).sum(-1).abs().clamp(max=1.0)
        turned = torch.rad2deg(2 * torch.acos(cosine))
        cuts[1:] |= turned > options.cut_rotation_deg
    if options.cut_translation is not None:
        cuts[1:] |= (params.transl[1:] - params.transl[:-1]).norm(dim=-1) > options.cut_translation
    starts = [0, *cuts.nonzero()[:, 0].tolist(), params.num_frames]
    return [(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]


def _smooth_part(values: torch.Tensor, sigma: float, rotation: bool) -> torch.Tensor:
    if values.shape[0] < 3:
        return values
    if not rotation:
        return _gaussian(values.double(), sigma).to(values.dtype)
    frames = values.shape[0]
    q = make_continuous(axis_angle_to_quaternion(values.double().reshape(frames, -1, 3)))
    smoothed = _gaussian(q.reshape(frames, -1), sigma).reshape(q.shape)
    return quaternion_to_axis_angle(smoothed).reshape(values.shape).to(values.dtype)


def _gaussian(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian filter over dim 0 of (F, C), ends extended by odd reflection (keeps linear trends)."""
    frames = values.shape[0]
    radius = min(int(math.ceil(3 * sigma)), frames - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=values.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    head = 2 * values[:1] - values[1 : radius + 1].flip(0)
    tail = 2 * values[-1:] - values[-radius - 1 : -1].flip(0)
    padded = torch.cat([head, values, tail])  # (F + 2r, C)
    windows = padded.unfold(0, 2 * radius + 1, 1)  # (F, C, 2r + 1)
    return windows @ kernel
