"""Typed, framework-free body models: the arrays of an SMPL-X or MANO file as torch tensors.

Loaded by :mod:`.smplx_io` and :mod:`.mano_io`, posed by :mod:`.lbs` / :mod:`.smplx_forward`. All tensors of a
model share one device and dtype; :meth:`SkinnedModel.to` moves them together (posing then runs on that device).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

# SMPL-X joint layout: pelvis, 21 body joints, jaw, left eye, right eye, 15 left-hand joints, 15 right-hand joints.
SMPLX_NUM_VERTICES = 10475
SMPLX_NUM_FACES = 20908
SMPLX_NUM_JOINTS = 55
SMPLX_NUM_BODY_JOINTS = 21
SMPLX_JAW, SMPLX_LEFT_EYE, SMPLX_RIGHT_EYE = 22, 23, 24
SMPLX_LEFT_WRIST, SMPLX_RIGHT_WRIST = 20, 21
SMPLX_LEFT_HAND_JOINTS = tuple(range(25, 40))
SMPLX_RIGHT_HAND_JOINTS = tuple(range(40, 55))
HAND_POSE_DIM = 45  # 15 finger joints x 3 (axis-angle)

MANO_NUM_VERTICES = 778
MANO_NUM_FACES = 1538
MANO_NUM_JOINTS = 16


@dataclass(frozen=True)
class SkinnedModel:
    """What linear blend skinning needs: a template, its blend shapes, joint regressor, weights and tree.

    v_template (V, 3); faces (F, 3) long; shapedirs (V, 3, S) identity shape directions; posedirs (V, 3, 9·(J−1))
    pose correctives in the file's layout; j_regressor (J, V) dense; weights (V, J); parents (J,) long with
    parents[0] == -1 and parents[j] < j (the files store joints in topological order, which posing relies on).
    """

    v_template: torch.Tensor
    faces: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    j_regressor: torch.Tensor
    weights: torch.Tensor
    parents: torch.Tensor

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.j_regressor.shape[0])

    @property
    def num_shape_coeffs(self) -> int:
        return int(self.shapedirs.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy with every float tensor on ``device`` in ``dtype`` (index tensors keep their integer type)."""
        changes = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                changes[field.name] = value.to(device=device, dtype=dtype if value.is_floating_point() else None)
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SMPLXModel(SkinnedModel):
    """SMPL-X: the skinning arrays plus expression directions and the per-hand pose PCA.

    shapedirs holds only the identity directions (10 in v1.0 files, 300 in v1.1); expr_dirs (V, 3, E) the
    expression ones (10 or 100). Hand PCA: components (45, 45) rows are principal directions, mean (45,) is the
    relaxed hand pose added when ``flat_hand_mean`` is False (GVHMR's setting).
    """

    expr_dirs: torch.Tensor
    left_hand_components: torch.Tensor
    right_hand_components: torch.Tensor
    left_hand_mean: torch.Tensor
    right_hand_mean: torch.Tensor
    version: str = ""  # "v1.1" (300+100 shape/expression directions) or "v1.0" (10+10)
    source: str = ""  # the file it came from, for messages

    @property
    def num_expression_coeffs(self) -> int:
        return int(self.expr_dirs.shape[-1])


@dataclass(frozen=True)
class MANOModel(SkinnedModel):
    """MANO (one hand): the skinning arrays plus the hand pose PCA (components (45, 45), mean (45,))."""

    hand_components: torch.Tensor
    hand_mean: torch.Tensor
    is_right: bool = True
    source: str = ""
