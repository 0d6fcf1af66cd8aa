"""Turn SMPL-X / MANO parameters into posed meshes: assemble the full pose (hand PCA, mean hand) and skin it."""

from __future__ import annotations

import torch

from ..errors import InputError
from .body_model import HAND_POSE_DIM, MANOModel, SMPLXModel
from .lbs import SkinnedOutput, linear_blend_skinning
from .smplx_params import SMPLXParams

DEFAULT_CHUNK_FRAMES = 64  # bounds the (frames, V, 3, 4) blended transforms to ~130 MB for SMPL-X in float32


def hand_pose_to_axis_angle(
    hand_pose: torch.Tensor | None,
    components: torch.Tensor,
    mean: torch.Tensor,
    frames: int,
    pca: bool,
    flat_hand_mean: bool,
) -> torch.Tensor:
    """(F, K) PCA coefficients or (F, 45) axis-angle -> (F, 45) axis-angle of the 15 finger joints.

    As in the ``smplx`` package, the file's mean hand is added in both cases unless ``flat_hand_mean``; zero
    coefficients therefore give the relaxed mean hand.
    """
    if hand_pose is None:
        pose = torch.zeros(frames, HAND_POSE_DIM, dtype=mean.dtype, device=mean.device)
    elif pca:
        if hand_pose.shape[1] > components.shape[0]:
            raise InputError(
                f"{hand_pose.shape[1]} hand PCA coefficients given, the model has {components.shape[0]} components."
            )
        pose = hand_pose @ components[: hand_pose.shape[1]]
    else:
        pose = hand_pose
    return pose if flat_hand_mean else pose + mean


def smplx_full_pose(model: SMPLXModel, params: SMPLXParams) -> torch.Tensor:
    """(F, 55, 3) axis-angle in joint order: root, 21 body, jaw, eyes, 15 left-hand, 15 right-hand joints."""
    frames = params.num_frames
    zeros3 = torch.zeros(frames, 3, dtype=model.dtype, device=model.device)

    def hand(pose: torch.Tensor | None, components: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        return hand_pose_to_axis_angle(pose, components, mean, frames, params.hand_pose_pca, params.flat_hand_mean)

    parts = [
        params.global_orient,
        params.body_pose,
        params.jaw_pose if params.jaw_pose is not None else zeros3,
        params.leye_pose if params.leye_pose is not None else zeros3,
        params.reye_pose if params.reye_pose is not None else zeros3,
        hand(params.left_hand_pose, model.left_hand_components, model.left_hand_mean),
        hand(params.right_hand_pose, model.right_hand_components, model.right_hand_mean),
    ]
    return torch.cat(parts, dim=1).reshape(frames, -1, 3)


def _shape_inputs(model: SMPLXModel, params: SMPLXParams) -> tuple[torch.Tensor, torch.Tensor]:
    betas = params.betas
    if betas.shape[1] > model.num_shape_coeffs:
        raise InputError(
            f"The sequence has {betas.shape[1]} betas but the SMPL-X {model.version} model has "
            f"{model.num_shape_coeffs} shape directions; use a v1.1 model (300) or fewer betas."
        )
    directions = [model.shapedirs[..., : betas.shape[1]]]
    coeffs = [betas]
    if params.expression is not None:
        if params.expression.shape[1] > model.num_expression_coeffs:
            raise InputError(
                f"The sequence has {params.expression.shape[1]} expression coefficients but the SMPL-X model has "
                f"{model.num_expression_coeffs}."
            )
        directions.append(model.expr_dirs[..., : params.expression.shape[1]])
        coeffs.append(params.expression)
    return torch.cat(coeffs, dim=1), torch.cat(directions, dim=-1)


def pose_smplx(model: SMPLXModel, params: SMPLXParams, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> SkinnedOutput:
    """Posed SMPL-X vertices (F, 10475, 3) and joints (F, 55, 3), translated by ``transl``.

    Runs on the model's device and dtype (parameters are moved there), ``chunk_frames`` frames at a time.
    Only the 55 skeleton joints are returned (no face/foot landmark joints).
    """
    params = params.to(device=model.device, dtype=model.dtype)
    vertices, joints = [], []
    for start in range(0, params.num_frames, chunk_frames):
        chunk = params.select(slice(start, start + chunk_frames))
        coeffs, directions = _shape_inputs(model, chunk)
        out = linear_blend_skinning(model, coeffs, smplx_full_pose(model, chunk), shape_directions=directions)
        vertices.append(out.vertices + chunk.transl[:, None])
        joints.append(out.joints + chunk.transl[:, None])
    return SkinnedOutput(vertices=torch.cat(vertices), joints=torch.cat(joints))


def pose_mano(
    model: MANOModel,
    global_orient: torch.Tensor,
    hand_pose: torch.Tensor | None = None,
    betas: torch.Tensor | None = None,
    transl: torch.Tensor | None = None,
    hand_pose_pca: bool = False,
    flat_hand_mean: bool = False,
) -> SkinnedOutput:
    """Posed MANO vertices (F, 778, 3) and joints (F, 16, 3).

    global_orient (F, 3); hand_pose (F, 45) axis-angle, or (F, K) PCA coefficients with ``hand_pose_pca``;
    betas (F, B ≤ 10); transl (F, 3). Defaults match ``smplx.MANO(use_pca=False, flat_hand_mean=False)``.
    """
    if global_orient.dim() != 2 or global_orient.shape[1] != 3:
        raise InputError(f"MANO global_orient must be (frames, 3), got {tuple(global_orient.shape)}.")
    device, dtype = model.device, model.dtype
    global_orient = global_orient.to(device=device, dtype=dtype)
    frames = global_orient.shape[0]
    if hand_pose is not None:
        hand_pose = hand_pose.to(device=device, dtype=dtype).reshape(frames, -1)
        if not hand_pose_pca and hand_pose.shape[1] != HAND_POSE_DIM:
            raise InputError(f"MANO hand_pose must be (frames, 45) axis-angle, got {tuple(hand_pose.shape)}.")
    fingers = hand_pose_to_axis_angle(
        hand_pose, model.hand_components, model.hand_mean, frames, hand_pose_pca, flat_hand_mean
    )
    full_pose = torch.cat([global_orient, fingers], dim=1).reshape(frames, -1, 3)
    if betas is None:
        betas = torch.zeros(frames, model.num_shape_coeffs, dtype=dtype, device=device)
    betas = betas.to(device=device, dtype=dtype)
    if betas.shape[-1] > model.num_shape_coeffs:
        raise InputError(f"{betas.shape[-1]} MANO betas given, the model has {model.num_shape_coeffs}.")
    out = linear_blend_skinning(model, betas.reshape(frames, -1), full_pose)
    if transl is None:
        return out
    offset = transl.to(device=device, dtype=dtype).reshape(frames, 1, 3)
    return SkinnedOutput(vertices=out.vertices + offset, joints=out.joints + offset)
