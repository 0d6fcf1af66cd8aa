"""Typed SMPL-X parameter sequences: per-frame pose/shape parameters plus the camera they were estimated in."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError

# name -> required width (None: any width, checked against the model when posing)
_REQUIRED = {"global_orient": 3, "body_pose": 63, "betas": None, "transl": 3}
_OPTIONAL = {
    "left_hand_pose": None,
    "right_hand_pose": None,
    "jaw_pose": 3,
    "leye_pose": 3,
    "reye_pose": 3,
    "expression": None,
}
PARAM_NAMES = tuple(_REQUIRED) + tuple(_OPTIONAL)


@dataclass(frozen=True)
class SMPLXParams:
    """SMPL-X parameters for F frames, axis-angle, in the convention of the ``smplx`` package.

    global_orient (F, 3), body_pose (F, 63), betas (F, B), transl (F, 3); optional left/right_hand_pose (F, K)
    PCA coefficients when ``hand_pose_pca`` (K ≤ 45) else (F, 45) axis-angle, jaw/leye/reye_pose (F, 3),
    expression (F, E). Missing optional parts mean zeros, i.e. with ``flat_hand_mean`` False the relaxed mean
    hand, which is what GVHMR (12 PCA components, flat_hand_mean=False, hands left at zero) renders.
    """

    global_orient: torch.Tensor
    body_pose: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    left_hand_pose: torch.Tensor | None = None
    right_hand_pose: torch.Tensor | None = None
    jaw_pose: torch.Tensor | None = None
    leye_pose: torch.Tensor | None = None
    reye_pose: torch.Tensor | None = None
    expression: torch.Tensor | None = None
    hand_pose_pca: bool = True
    flat_hand_mean: bool = False

    def __post_init__(self) -> None:
        frames = self.global_orient.shape[0] if self.global_orient.dim() > 0 else -1
        for name, width in {**_REQUIRED, **_OPTIONAL}.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.dim() != 2:
                shape = tuple(value.shape) if hasattr(value, "shape") else type(value).__name__
                raise InputError(f"SMPL-X parameter '{name}' must be a float tensor (frames, values), got {shape}.")
            if value.shape[0] != frames:
                raise InputError(
                    f"SMPL-X parameter '{name}' has {value.shape[0]} frames but global_orient has {frames}; "
                    "all parameters of a sequence need one row per frame."
                )
            if width is not None and value.shape[1] != width:
                raise InputError(
                    f"SMPL-X parameter '{name}' has {value.shape[1]} values per frame, expected {width} "
                    f"(axis-angle{', 21 body joints x 3' if name == 'body_pose' else ''})."
                )
            if not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).any(dim=1).nonzero()[0, 0])
                raise InputError(f"SMPL-X parameter '{name}' is NaN or infinite at frame {bad}.")
        if frames <= 0:
            raise InputError("The SMPL-X sequence has no frames.")
        if self.betas.shape[1] == 0:
            raise InputError("SMPL-X 'betas' has no shape coefficients.")
        for side in ("left_hand_pose", "right_hand_pose"):
            value = getattr(self, side)
            if value is None:
                continue
            if self.hand_pose_pca and not 1 <= value.shape[1] <= 45:
                raise InputError(f"'{side}' has {value.shape[1]} PCA coefficients; SMPL-X hands have 1 to 45.")
            if not self.hand_pose_pca and value.shape[1] != 45:
                raise InputError(f"'{side}' is axis-angle (hand_pose_pca=False) and needs 45 values per frame.")

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @classmethod
    def from_mapping(
        cls, params: Mapping[str, Any], *, hand_pose_pca: bool = True, flat_hand_mean: bool = False
    ) -> SMPLXParams:
        """Build from a dict of arrays/tensors (e.g. GVHMR's ``smpl_params_incam``); unknown keys are ignored.

        Values become float32 CPU tensors. betas given once ((B,) or (1, B)) are repeated for every frame, and
        (F, 21, 3)-style per-joint layouts are flattened.
        """
        missing = [name for name in _REQUIRED if name not in params]
        if missing:
            raise InputError(
                f"SMPL-X parameters lack {', '.join(missing)} (found: {', '.join(sorted(params)) or 'nothing'})."
            )
        tensors: dict[str, torch.Tensor] = {}
        for name in PARAM_NAMES:
            if params.get(name) is None:
                continue
            value = params[name]
            if isinstance(value, np.ndarray):
                value = torch.from_numpy(np.ascontiguousarray(value))
            if not isinstance(value, torch.Tensor):
                raise InputError(f"SMPL-X parameter '{name}' is a {type(value).__name__}, not an array.")
            value = value.detach().to(device="cpu", dtype=torch.float32)
            if value.dim() >= 3:
                value = value.reshape(value.shape[0], -1)
            tensors[name] = value
        frames = tensors["global_orient"].shape[0] if tensors["global_orient"].dim() == 2 else 1
        betas = tensors["betas"]
        if betas.dim() == 1:
            betas = betas[None]
        if betas.dim() == 2 and betas.shape[0] == 1 and frames > 1:
            betas = betas.expand(frames, -1).contiguous()
        tensors["betas"] = betas
        return cls(**tensors, hand_pose_pca=hand_pose_pca, flat_hand_mean=flat_hand_mean)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> SMPLXParams:
        changes = {
            name: getattr(self, name).to(device=device, dtype=dtype)
            for name in PARAM_NAMES
            if getattr(self, name) is not None
        }
        return dataclasses.replace(self, **changes)

    def select(self, frames: slice | torch.Tensor | list[int]) -> SMPLXParams:
        """The parameters of a subset of frames (a slice or index list), e.g. for chunked rendering."""
        changes = {name: getattr(self, name)[frames] for name in PARAM_NAMES if getattr(self, name) is not None}
        return dataclasses.replace(self, **changes)

    def with_betas(self, betas: torch.Tensor) -> SMPLXParams:
        """The same motion with other shape coefficients ((B,) for all frames, or (F, B))."""
        betas = betas.to(self.betas)
        if betas.dim() == 1:
            betas = betas[None].expand(self.num_frames, -1).contiguous()
        return dataclasses.replace(self, betas=betas)


@dataclass(frozen=True)
class SMPLXSequence:
    """A camera-space SMPL-X motion: parameters, per-frame OpenCV intrinsics and the image they belong to.

    intrinsics (F, 3, 3) map camera coordinates (x right, y down, z forward, metres) to pixels of a
    width x height image whose pixel (i, j) covers [i, i+1) x [j, j+1) (pixel centres at +0.5, the convention of
    GVHMR's K, whose principal point is (w/2, h/2)). fps is that of the driving video, None when unknown.
    """

    params: SMPLXParams
    intrinsics: torch.Tensor
    width: int
    height: int
    fps: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        k = self.intrinsics
        if not isinstance(k, torch.Tensor) or k.dim() != 3 or tuple(k.shape[1:]) != (3, 3):
            shape = tuple(k.shape) if hasattr(k, "shape") else type(k).__name__
            raise InputError(f"Camera intrinsics must be (frames, 3, 3), got {shape}.")
        if k.shape[0] != self.params.num_frames:
            raise InputError(
                f"{k.shape[0]} camera intrinsics for {self.params.num_frames} frames of SMPL-X parameters."
            )
        if not bool(torch.isfinite(k).all()) or bool((k[:, 0, 0] <= 0).any()) or bool((k[:, 1, 1] <= 0).any()):
            raise InputError("Camera intrinsics need finite values and positive focal lengths K[0,0], K[1,1].")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise InputError(f"Image size must be positive, got {self.width}x{self.height}.")

    @property
    def num_frames(self) -> int:
        return self.params.num_frames

    def resized(self, width: int, height: int) -> SMPLXSequence:
        """The same motion seen by the same camera in an image resampled to width x height (scales K)."""
        k = self.intrinsics.clone()
        sx, sy = width / self.width, height / self.height
        k[:, 0] *= sx
        k[:, 1] *= sy
        return dataclasses.replace(self, intrinsics=k, width=int(width), height=int(height))

    def select(self, frames: slice | torch.Tensor | list[int]) -> SMPLXSequence:
        return dataclasses.replace(self, params=self.params.select(frames), intrinsics=self.intrinsics[frames])
