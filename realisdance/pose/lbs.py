"""Linear blend skinning (the published SMPL family formulation), batched over frames, in plain torch.

    v_shaped = T̄ + Σ β_k S_k                    (identity/expression blend shapes)
    J        = 𝒥 v_shaped                        (rest joints regressed from the shaped mesh)
    v_posed  = v_shaped + Σ (R_j − I)_{ab} P_jab  (pose correctives, joints 1..J−1)
    v_out    = Σ_j w_ij G_j(θ, J) [v_posed_i; 1]  (G_j: world transform of joint j relative to its rest pose)

Everything runs on the device and dtype of the inputs, so a model moved to CUDA poses on the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .body_model import SkinnedModel
from .rotations import axis_angle_to_matrix


@dataclass(frozen=True)
class SkinnedOutput:
    """vertices (B, V, 3) and joints (B, J, 3) of the posed model, both in the model's output frame."""

    vertices: torch.Tensor
    joints: torch.Tensor


def blend_shapes(coeffs: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(B, K) coefficients x (V, 3, K) directions -> (B, V, 3) offsets; uses the first K directions."""
    return torch.einsum("bk,vck->bvc", coeffs, directions[..., : coeffs.shape[-1]])


def regress_joints(j_regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """(J, V) regressor applied to (B, V, 3) vertices -> (B, J, 3)."""
    return torch.einsum("jv,bvc->bjc", j_regressor, vertices)


def pose_correctives(rotations: torch.Tensor, posedirs: torch.Tensor) -> torch.Tensor:
    """(B, J, 3, 3) joint rotations -> (B, V, 3) pose-corrective offsets (root excluded, as in the files)."""
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    features = (rotations[:, 1:] - eye).reshape(rotations.shape[0], -1)  # (B, 9·(J−1)), row-major 3x3 per joint
    return torch.einsum("bp,vcp->bvc", features, posedirs)


def forward_kinematics(
    rotations: torch.Tensor, rest_joints: torch.Tensor, parents: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chain local rotations down the tree.

    rotations (B, J, 3, 3) local joint rotations, rest_joints (B, J, 3), parents (J,) with parents[j] < j.
    Returns the posed joints (B, J, 3) and the skinning transforms (B, J, 3, 4): rotation and translation that
    carry a rest-pose point attached to joint j to its posed position.
    """
    parent_list = parents.tolist()
    offsets = rest_joints.clone()
    offsets[:, 1:] = rest_joints[:, 1:] - rest_joints[:, parent_list[1:]]  # bone vectors in the rest pose

    world_rot: list[torch.Tensor] = [rotations[:, 0]]
    world_pos: list[torch.Tensor] = [offsets[:, 0]]
    for j in range(1, len(parent_list)):
        p = parent_list[j]
        world_rot.append(world_rot[p] @ rotations[:, j])
        world_pos.append(world_pos[p] + (world_rot[p] @ offsets[:, j, :, None])[..., 0])
    rot = torch.stack(world_rot, dim=1)  # (B, J, 3, 3)
    posed_joints = torch.stack(world_pos, dim=1)  # (B, J, 3)

    # x_posed = R_j (x_rest − J_j) + P_j = R_j x_rest + (P_j − R_j J_j)
    translation = posed_joints - (rot @ rest_joints[..., None])[..., 0]
    return posed_joints, torch.cat([rot, translation[..., None]], dim=-1)


def skin_vertices(vertices: torch.Tensor, transforms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Blend the per-joint (B, J, 3, 4) transforms with (V, J) weights and apply them to (B, V, 3) vertices."""
    batch, joints = transforms.shape[:2]
    blended = (weights @ transforms.reshape(batch, joints, 12)).reshape(batch, -1, 3, 4)  # (B, V, 3, 4)
    return (blended[..., :3] @ vertices[..., None])[..., 0] + blended[..., 3]


def linear_blend_skinning(
    model: SkinnedModel,
    shape_coeffs: torch.Tensor,
    full_pose: torch.Tensor,
    shape_directions: torch.Tensor | None = None,
) -> SkinnedOutput:
    """Pose ``model``.

    shape_coeffs (B, K): coefficients for the first K columns of ``shape_directions`` (default: the model's
    shapedirs; SMPL-X passes identity and expression directions concatenated). full_pose (B, J, 3) axis-angle
    or (B, J, 3, 3) rotation matrices, one per joint in the model's order (root first).
    """
    directions = model.shapedirs if shape_directions is None else shape_directions
    rotations = axis_angle_to_matrix(full_pose) if full_pose.dim() == 3 else full_pose
    v_shaped = model.v_template + blend_shapes(shape_coeffs, directions)
    rest_joints = regress_joints(model.j_regressor, v_shaped)
    v_posed = v_shaped + pose_correctives(rotations, model.posedirs)
    posed_joints, transforms = forward_kinematics(rotations, rest_joints, model.parents)
    return SkinnedOutput(vertices=skin_vertices(v_posed, transforms, model.weights), joints=posed_joints)
