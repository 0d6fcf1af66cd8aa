"""Smooth vertex normals and the headlight shading of RealisDance's condition renders.

The reference renders use pytorch3d's HardPhongShader with ``Materials(shininess=0)`` and a directional light
along the camera axis. With shininess 0 the specular term is ``specular * alpha**0 = specular`` everywhere (even
facing away), so a pixel is

    colour * (ambient + diffuse * max(0, n·l)) + specular

with n the interpolated, renormalised vertex normal and l = (0, 0, -1), the direction from the surface towards
the camera in the OpenCV camera frame. SMPL-CS uses (0.4, 0.3, 0.2), the hand render (0.3, 0.75, 0.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

HEADLIGHT_TOWARDS_CAMERA = (0.0, 0.0, -1.0)


@dataclass(frozen=True)
class HeadlightMaterial:
    ambient: float
    diffuse: float
    specular: float


SMPL_CS_MATERIAL = HeadlightMaterial(ambient=0.4, diffuse=0.3, specular=0.2)  # GVHMR_realisdance render_incam
HAND_MATERIAL = HeadlightMaterial(ambient=0.3, diffuse=0.75, specular=0.2)  # Uni3C alignment.py hand render


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted smooth normals, (..., V, 3) -> (..., V, 3) unit vectors (zero for unused vertices).

    Orientation follows the winding: counter-clockwise triangles seen from outside give outward normals, as in
    the SMPL-X and MANO meshes.
    """
    corners = vertices[..., faces, :]  # (..., F, 3, 3)
    face_normals = torch.linalg.cross(corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :])
    normals = torch.zeros_like(vertices)
    for corner in range(3):
        normals.index_add_(-2, faces[:, corner], face_normals)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def shade_headlight(colours: torch.Tensor, normals: torch.Tensor, material: HeadlightMaterial) -> torch.Tensor:
    """(..., 3) colours in [0, 1] and (..., 3) (not necessarily unit) normals -> shaded colours clamped to [0, 1]."""
    light = torch.tensor(HEADLIGHT_TOWARDS_CAMERA, dtype=normals.dtype, device=normals.device)
    n_dot_l = (torch.nn.functional.normalize(normals, dim=-1, eps=1e-6) * light).sum(-1, keepdim=True)
    lit = colours * (material.ambient + material.diffuse * n_dot_l.clamp(min=0.0)) + material.specular
    return lit.clamp(0.0, 1.0)
