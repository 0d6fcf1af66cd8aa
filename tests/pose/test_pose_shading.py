"""Headlight shading: exact values on flat patches, and outward normals on the procedural body."""

from __future__ import annotations

import math

import pytest
import torch

from realisdance.pose import (
    HAND_MATERIAL,
    SMPL_CS_MATERIAL,
    TorchRasterizer,
    shade_headlight,
    vertex_normals,
)

K = torch.tensor([[200.0, 0.0, 32.0], [0.0, 200.0, 32.0], [0.0, 0.0, 1.0]])


def patch(tilt: float, flip: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A square 2 m in front of the camera, rotated by ``tilt`` about the vertical axis; counter-clockwise as the
    camera sees it, so its normal points at the camera (away with ``flip``)."""
    corners = torch.tensor([[-0.2, -0.2, 0.0], [-0.2, 0.2, 0.0], [0.2, 0.2, 0.0], [0.2, -0.2, 0.0]])
    c, s = math.cos(tilt), math.sin(tilt)
    rotation = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    vertices = corners @ rotation.T + torch.tensor([0.0, 0.0, 2.0])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return vertices, faces.flip(-1) if flip else faces


def shaded_patch(tilt: float, colour: tuple[float, float, float], material, flip: bool = False) -> torch.Tensor:
    vertices, faces = patch(tilt, flip)
    colours = torch.tensor(colour).expand(4, 3)
    attributes = torch.cat([colours, vertex_normals(vertices, faces)], dim=-1)
    image = TorchRasterizer().rasterize(vertices, faces, attributes, K, 64, 64)
    assert image.mask[32, 32]
    return shade_headlight(image.attributes[32, 32, :3], image.attributes[32, 32, 3:], material)


def test_flat_patch_facing_the_camera_gets_ambient_plus_diffuse_plus_specular():
    normal = vertex_normals(*patch(0.0))[0]
    torch.testing.assert_close(normal, torch.tensor([0.0, 0.0, -1.0]))
    # colour * (0.4 + 0.3 * 1) + 0.2
    torch.testing.assert_close(shaded_patch(0.0, (1.0, 0.5, 0.25), SMPL_CS_MATERIAL), torch.tensor([0.9, 0.55, 0.375]))


def test_tilted_patch_gets_cosine_diffuse():
    # 60 degrees off the camera axis: n·l = 0.5 -> colour * (0.4 + 0.15) + 0.2
    torch.testing.assert_close(
        shaded_patch(math.pi / 3, (1.0, 0.5, 0.0), SMPL_CS_MATERIAL), torch.tensor([0.75, 0.475, 0.2])
    )


def test_back_face_gets_ambient_and_flat_specular_only():
    # shininess 0 makes pytorch3d's specular a constant, even facing away: colour * 0.4 + 0.2
    torch.testing.assert_close(
        shaded_patch(0.0, (1.0, 0.5, 0.0), SMPL_CS_MATERIAL, flip=True), torch.tensor([0.6, 0.4, 0.2])
    )


def test_hand_material_saturates_and_clamps():
    # right-hand pink (1, .5, .5) * (0.3 + 0.75) + 0.2 = (1.25 -> 1, 0.725, 0.725)
    torch.testing.assert_close(shaded_patch(0.0, (1.0, 0.5, 0.5), HAND_MATERIAL), torch.tensor([1.0, 0.725, 0.725]))


def test_unnormalised_interpolated_normals_are_renormalised():
    shaded = shade_headlight(torch.ones(1, 3), torch.tensor([[0.0, 0.0, -0.3]]), SMPL_CS_MATERIAL)
    torch.testing.assert_close(shaded, torch.full((1, 3), 0.9))


def test_procedural_body_normals_point_outward(smplx_model):
    normals = vertex_normals(smplx_model.v_template, smplx_model.faces)
    used = torch.zeros(smplx_model.num_vertices, dtype=torch.bool)
    faces = smplx_model.faces
    real = (faces[:, 0] != faces[:, 1]) | (faces[:, 1] != faces[:, 2])  # not the degenerate padding faces
    used[faces[real].unique()] = True
    # Each vertex is skinned to the bone its tube belongs to; outward = away from the body's rest joints' hull
    # is hard to state in general, so check the torso: normals point away from the spine axis (x = z = 0).
    torso = used & torch.isin(smplx_model.weights.argmax(-1), torch.tensor([3, 6]))
    radial = smplx_model.v_template[torso] * torch.tensor([1.0, 0.0, 1.0])
    assert ((normals[torso] * radial).sum(-1) > 0).float().mean() > 0.9
    assert normals[used].norm(dim=-1).min() == pytest.approx(1.0, abs=1e-5)
