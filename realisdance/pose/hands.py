"""The SMPL-X hand sub-mesh and the hand-condition compositing (pink right hand, green left hand, on black).

RealisDance-DiT's hand video (Uni3C ``alignment.py`` without HaMeR input) renders the SMPL-X faces whose three
vertices are all hand vertices, coloured right (1, 0.5, 0.5) and left (0.5, 1, 0.5), and hides hand pixels that
lie behind the body. The reference takes the hand vertices from MANO_SMPLX_vertex_ids.pkl, which is licensed
with SMPL-X; here they come from the model's own skinning weights instead: a vertex belongs to a hand when at
least ``threshold`` of its skinning weight is on that hand's wrist or finger joints, i.e. it moves with the hand.

The reference also closes MANO's wrist opening with 14 extra faces. That is unnecessary here: the opening is
only visible looking down the forearm, and there the body's depth (the forearm itself) hides the hand interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from .body_model import (
    SMPLX_LEFT_HAND_JOINTS,
    SMPLX_LEFT_WRIST,
    SMPLX_NUM_JOINTS,
    SMPLX_RIGHT_HAND_JOINTS,
    SMPLX_RIGHT_WRIST,
    SkinnedModel,
)
from .render_backend import RasterImage

RIGHT_HAND_COLOUR = (1.0, 0.5, 0.5)
LEFT_HAND_COLOUR = (0.5, 1.0, 0.5)
DEFAULT_HAND_WEIGHT_THRESHOLD = 0.5
DEFAULT_OCCLUSION_TOLERANCE = 1e-4  # relative depth: hand and body share triangles, so allow rounding noise


@dataclass(frozen=True)
class HandMesh:
    """vertex_ids (N,) indices into the body's vertices (left hand first); faces (M, 3) indices into vertex_ids;
    is_right (N,) bool; colours (N, 3) in [0, 1]."""

    vertex_ids: torch.Tensor
    faces: torch.Tensor
    is_right: torch.Tensor
    colours: torch.Tensor

    def to(self, device: torch.device | str) -> HandMesh:
        return HandMesh(*(t.to(device) for t in (self.vertex_ids, self.faces, self.is_right, self.colours)))


def hand_vertex_ids(model: SkinnedModel, side: str, threshold: float = DEFAULT_HAND_WEIGHT_THRESHOLD) -> torch.Tensor:
    """Indices of SMPL-X vertices skinned at least ``threshold`` to the ``side`` ('left'/'right') hand joints."""
    if model.num_joints != SMPLX_NUM_JOINTS:
        raise InputError(f"Hand vertices need an SMPL-X model (55 joints), this one has {model.num_joints}.")
    if side == "left":
        joints = [SMPLX_LEFT_WRIST, *SMPLX_LEFT_HAND_JOINTS]
    elif side == "right":
        joints = [SMPLX_RIGHT_WRIST, *SMPLX_RIGHT_HAND_JOINTS]
    else:
        raise InputError(f"Hand side must be 'left' or 'right', got '{side}'.")
    share = model.weights[:, joints].sum(-1)
    return (share >= threshold).nonzero()[:, 0]


def smplx_hand_mesh(model: SkinnedModel, threshold: float = DEFAULT_HAND_WEIGHT_THRESHOLD) -> HandMesh:
    """Both hands of an SMPL-X model as one sub-mesh: faces whose three vertices are all hand vertices."""
    left, right = hand_vertex_ids(model, "left", threshold), hand_vertex_ids(model, "right", threshold)
    vertex_ids = torch.cat([left, right])
    if left.numel() == 0 or right.numel() == 0:
        raise InputError("The body model has no vertices skinned to a hand; is it SMPL-X?")
    local = torch.full((model.num_vertices,), -1, dtype=torch.long, device=vertex_ids.device)
    local[vertex_ids] = torch.arange(vertex_ids.numel(), device=vertex_ids.device)
    mapped = local[model.faces]
    faces = mapped[(mapped >= 0).all(-1)]
    is_right = torch.cat([torch.zeros_like(left, dtype=torch.bool), torch.ones_like(right, dtype=torch.bool)])
    palette = torch.tensor([LEFT_HAND_COLOUR, RIGHT_HAND_COLOUR], dtype=model.dtype, device=vertex_ids.device)
    return HandMesh(vertex_ids=vertex_ids, faces=faces, is_right=is_right, colours=palette[is_right.long()])


def visible_hand_mask(
    hands: RasterImage, body_depth: torch.Tensor | None, tolerance: float = DEFAULT_OCCLUSION_TOLERANCE
) -> torch.Tensor:
    """(H, W) bool: hand pixels not behind the body (``body_depth`` (H, W), +inf where empty; None: no body)."""
    mask = hands.mask
    if body_depth is None:
        return mask
    return mask & (hands.depth <= body_depth * (1.0 + tolerance))
