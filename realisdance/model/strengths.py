"""How strongly the pose and the reference steer the DiT, and when the pose applies: one rule for every forward.

The release applies both at full strength on every step (``ConditionStrengths()``). ComfyUI users asked for the
usual control-net knobs, so the core transformer and the native ComfyUI model both take these, with the same
meaning:

- ``pose``: scales the pose tokens added to the video tokens (0 leaves the pose out);
- ``reference``: scales the reference tokens appended to the sequence; at 0 they are left out of the sequence
  altogether (attention over zero vectors would still shift the softmax);
- ``pose_sigmas``: (start, end) on the sigma scale (1 = pure noise): the pose applies while
  ``end <= sigma <= start``; None applies it on every step. Samplers turn start/end percentages into sigmas with
  their own schedule (ComfyUI: ``model_sampling.percent_to_sigma``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError


@dataclass(frozen=True)
class ConditionStrengths:
    pose: float = 1.0
    reference: float = 1.0
    pose_sigmas: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("pose", "reference"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise InputError(f"the {name} strength must be a finite number, got {value!r}")
        if self.pose_sigmas is not None:
            start, end = self.pose_sigmas
            if not (math.isfinite(start) and math.isfinite(end)) or start < end:
                raise InputError(
                    f"the pose sigma range {self.pose_sigmas} must be (start, end) with start >= end (sampling goes "
                    "from high sigma to low)"
                )

    def pose_at(self, sigma: float | None) -> float:
        """The pose strength at ``sigma`` (the full strength when no sigma is known or no range is set)."""
        if self.pose_sigmas is None or sigma is None:
            return float(self.pose)
        start, end = self.pose_sigmas
        return float(self.pose) if end <= float(sigma) <= start else 0.0

    @property
    def uses_reference(self) -> bool:
        return self.reference != 0.0


RELEASE_STRENGTHS = ConditionStrengths()


def release_timestep(timestep):
    """The timestep the release's DiT sees for a (possibly fractional) 0..1000 timestep: truncated to an integer,
    as the official pipeline feeds ``int64(1000 * sigma)``. Works on tensors (floor of non-negative values)."""
    t = torch.as_tensor(timestep)
    return torch.floor(t) if t.is_floating_point() else t
