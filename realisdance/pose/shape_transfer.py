"""Give a driving motion the reference character's body shape without moving its root.

Posing (``smplx`` convention, :mod:`.lbs`): the root rotation turns the body about its rest pelvis J₀(β) and
``transl`` is added afterwards, so the posed pelvis is J₀(β) + transl whatever the global orientation.
Replacing β_old by β_new therefore keeps the pelvis in place exactly when

    transl_new = transl + J₀(β_old) − J₀(β_new)        (per frame; no rotation involved)

Joint rotations are untouched, so the motion is the same and the bone lengths become the reference's.
"""

from __future__ import annotations

import dataclasses

import torch

from ..errors import InputError
from .body_model import SMPLXModel
from .lbs import regress_joints
from .smplx_params import SMPLXSequence


def rest_pelvis(model: SMPLXModel, betas: torch.Tensor) -> torch.Tensor:
    """(F, B) betas -> (F, 3) rest-pose pelvis J₀(β) (only the regressor's root row is needed)."""
    count = betas.shape[1]
    if count > model.num_shape_coeffs:
        raise InputError(f"{count} betas given, the SMPL-X model has {model.num_shape_coeffs} shape directions.")
    betas = betas.to(device=model.device, dtype=model.dtype)
    root = model.j_regressor[:1]  # J₀ is linear in β: regress the template and each direction once
    template = regress_joints(root, model.v_template[None])[0, 0]
    directions = torch.einsum("v,vck->ck", root[0], model.shapedirs[..., :count])
    return template + betas @ directions.T


def transfer_shape(model: SMPLXModel, sequence: SMPLXSequence, betas: torch.Tensor) -> SMPLXSequence:
    """The driving ``sequence`` with ``betas`` ((B,) or (1, B), e.g. a fitted reference shape) in every frame and
    ``transl`` corrected so each frame's pelvis stays where it was."""
    if not isinstance(betas, torch.Tensor) or betas.dim() not in (1, 2) or (betas.dim() == 2 and betas.shape[0] != 1):
        shape = tuple(betas.shape) if hasattr(betas, "shape") else type(betas).__name__
        raise InputError(f"Reference betas must be one shape vector (B,) or (1, B), got {shape}.")
    if not bool(torch.isfinite(betas).all()):
        raise InputError("The reference betas contain NaN or infinite values; refit the reference shape.")
    params = sequence.params
    new_betas = betas.reshape(1, -1).to(dtype=params.betas.dtype).expand(params.num_frames, -1)
    with torch.no_grad():
        shift = rest_pelvis(model, params.betas) - rest_pelvis(model, new_betas)
    transl = params.transl + shift.to(params.transl)
    new_params = dataclasses.replace(params, betas=new_betas.contiguous(), transl=transl)
    return dataclasses.replace(sequence, params=new_params)
