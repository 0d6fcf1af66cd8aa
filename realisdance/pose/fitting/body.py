"""SMPL-X posed at a subset of its vertices, exactly, for fast fitting.

Posing all 10475 vertices every optimisation step wastes most of the work: the losses look at a few thousand
surface vertices and the joints. The joints only need the regressor applied to the *shaped* template, which is
linear in the shape coefficients, so J(β) = 𝒥T̄ + (𝒥S)β is precomputed once; the chosen vertices then go through
the same blend shapes, pose correctives and skinning as :func:`~..lbs.linear_blend_skinning`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ...errors import InputError
from ..body_model import SMPLXModel
from ..camera import project_points
from ..landmarks import Landmark
from ..lbs import SkinnedOutput, forward_kinematics, skin_vertices
from ..posing import smplx_full_pose
from ..rotations import axis_angle_to_matrix
from ..smplx_params import SMPLXParams

MIN_CAMERA_DEPTH = 1e-3


@dataclass(frozen=True)
class SubsetBody:
    """The arrays of ``vertex_ids`` only, plus the joint template and joint shape directions (first ``num_betas``
    identity columns, then all expression columns). Blend shapes are stored as (K, n·3) matrices so each step is
    one matrix product (einsum over the file's (n, 3, K) layout would copy the arrays every call)."""

    model: SMPLXModel
    vertex_ids: torch.Tensor
    v_template: torch.Tensor
    directions: torch.Tensor
    posedirs: torch.Tensor
    weights: torch.Tensor
    joint_template: torch.Tensor
    joint_directions: torch.Tensor
    num_betas: int


def subset_body(model: SMPLXModel, vertex_ids: torch.Tensor, num_betas: int) -> SubsetBody:
    directions = torch.cat([model.shapedirs[..., :num_betas], model.expr_dirs], dim=-1)
    regressor = model.j_regressor
    return SubsetBody(
        model=model,
        vertex_ids=vertex_ids,
        v_template=model.v_template[vertex_ids],
        directions=_as_matrix(directions[vertex_ids]),
        posedirs=_as_matrix(model.posedirs[vertex_ids]),
        weights=model.weights[vertex_ids],
        joint_template=regressor @ model.v_template,
        joint_directions=_as_matrix(torch.einsum("jv,vck->jck", regressor, directions)),
        num_betas=num_betas,
    )


def _as_matrix(directions: torch.Tensor) -> torch.Tensor:
    """(n, 3, K) -> (K, n·3), contiguous."""
    return directions.permute(2, 0, 1).reshape(directions.shape[-1], -1).contiguous()


def pose_subset(body: SubsetBody, params: SMPLXParams) -> SkinnedOutput:
    """Like :func:`~..posing.pose_smplx` but vertices (B, n, 3) only at ``body.vertex_ids``; joints (B, 55, 3)."""
    frames = params.num_frames
    expression = params.expression
    expression_columns = body.directions.shape[0] - body.num_betas
    if expression is None:
        expression = params.betas.new_zeros(frames, expression_columns)
    elif expression.shape[1] < expression_columns:  # fewer coefficients than the model has: the rest are 0
        expression = torch.nn.functional.pad(expression, (0, expression_columns - expression.shape[1]))
    coeffs = torch.cat([params.betas, expression], dim=1)
    rotations = axis_angle_to_matrix(smplx_full_pose(body.model, params))
    v_shaped = body.v_template + (coeffs @ body.directions).view(frames, -1, 3)
    rest_joints = body.joint_template + (coeffs @ body.joint_directions).view(frames, -1, 3)
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    features = (rotations[:, 1:] - eye).reshape(frames, -1)  # as in lbs.pose_correctives: joints 1.., row-major
    v_posed = v_shaped + (features @ body.posedirs).view(frames, -1, 3)
    joints, transforms = forward_kinematics(rotations, rest_joints, body.model.parents)
    vertices = skin_vertices(v_posed, transforms, body.weights)
    offset = params.transl[:, None]
    return SkinnedOutput(vertices=vertices + offset, joints=joints + offset)


def renumber_vertex_landmarks(
    landmarks: tuple[Landmark, ...], offset: int, model: SMPLXModel
) -> tuple[tuple[Landmark, ...], torch.Tensor]:
    """Vertex landmarks pointing at positions ``offset + k`` of the subset, and the vertex ids to append."""
    renumbered, vertex_ids = [], []
    for landmark in landmarks:
        if landmark.vertex is None:
            renumbered.append(landmark)
            continue
        if not 0 <= landmark.vertex < model.num_vertices:
            raise InputError(f"Landmark vertex {landmark.vertex} does not exist on a {model.num_vertices}-vertex mesh.")
        renumbered.append(dataclasses.replace(landmark, vertex=offset + len(vertex_ids)))
        vertex_ids.append(landmark.vertex)
    return tuple(renumbered), torch.tensor(vertex_ids, dtype=torch.long, device=model.device)


def project_in_front(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(..., N, 3) camera-space points -> (..., N, 2) pixels; points behind the camera are kept finite (they are
    wrong anyway and the reprojection loss pushes them forward)."""
    safe = torch.cat([points[..., :2], points[..., 2:].clamp(min=MIN_CAMERA_DEPTH)], dim=-1)
    return project_points(safe, intrinsics)[..., :2]
