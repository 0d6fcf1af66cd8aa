"""The reference rasterizer against brute-force per-pixel geometry (float64 numpy, written independently)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import (
    RasterImage,
    TorchRasterizer,
    available_backends,
    get_backend,
    interpolate_attributes,
    rasterize_mesh,
    register_backend,
)

K = torch.tensor([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
WIDTH, HEIGHT = 64, 48


def lift(pixels_xy: list[tuple[float, float]], depth: float | list[float]) -> torch.Tensor:
    """Camera-space points that project to the given pixel coordinates at the given depths."""
    depths = [depth] * len(pixels_xy) if np.isscalar(depth) else depth
    k = K.numpy()
    points = [
        ((x - k[0, 2]) * z / k[0, 0], (y - k[1, 2]) * z / k[1, 1], z)
        for (x, y), z in zip(pixels_xy, depths, strict=True)
    ]
    return torch.tensor(points, dtype=torch.float64)


def brute_force(vertices: np.ndarray, faces: np.ndarray, k: np.ndarray, width: int, height: int):
    """Nearest covering face and its depth at every pixel centre, by exhaustive ray-triangle tests."""
    face_index = np.full((height, width), -1)
    depth = np.full((height, width), np.inf)
    for y in range(height):
        for x in range(width):
            ray = np.linalg.solve(k, [x + 0.5, y + 0.5, 1.0])  # direction with z = 1
            for f, (a, b, c) in enumerate(faces):
                va, vb, vc = vertices[a], vertices[b], vertices[c]
                normal = np.cross(vb - va, vc - va)
                denom = normal @ ray
                if abs(denom) < 1e-15:
                    continue
                t = (normal @ va) / denom  # hit point = t * ray, and its z is t
                hit = t * ray
                signs = [np.cross(q - p, hit - p) @ normal for p, q in ((va, vb), (vb, vc), (vc, va))]
                inside = all(s >= -1e-12 for s in signs) or all(s <= 1e-12 for s in signs)
                if inside and t > 0 and t <= depth[y, x]:
                    depth[y, x], face_index[y, x] = t, f
    return face_index, depth


def test_single_triangle_coverage_and_depth():
    vertices = lift([(5.2, 3.7), (50.3, 10.1), (20.6, 40.4)], 2.0)
    faces = torch.tensor([[0, 1, 2]])
    fragments = rasterize_mesh(vertices, faces, K, WIDTH, HEIGHT)
    expected_face, expected_depth = brute_force(vertices.numpy(), faces.numpy(), K.numpy(), WIDTH, HEIGHT)
    np.testing.assert_array_equal(fragments.face_index.numpy(), expected_face)
    covered = expected_face >= 0
    np.testing.assert_allclose(fragments.depth.numpy()[covered], 2.0, atol=1e-12)
    assert np.isinf(fragments.depth.numpy()[~covered]).all()
    torch.testing.assert_close(
        fragments.barycentric.sum(-1)[torch.from_numpy(covered)].double(),
        torch.ones(1).double().expand(int(covered.sum())),
    )


def test_nearer_triangle_wins_regardless_of_order():
    near = lift([(0, 0), (64, 0), (0, 48)], 1.0)
    far = lift([(0, 0), (64, 0), (64, 48)], 3.0)
    for order in ((0, 1), (1, 0)):
        vertices = torch.cat([near, far])
        faces = torch.tensor([[0, 1, 2], [3, 4, 5]])[list(order)]
        fragments = rasterize_mesh(vertices, faces, K, WIDTH, HEIGHT)
        near_index = order.index(0)
        # Where both cover (upper-right half of the near triangle's area), the near one is seen.
        assert fragments.face_index[2, 40].item() == near_index
        assert fragments.depth[2, 40].item() == pytest.approx(1.0)
        assert fragments.face_index[46, 62].item() == 1 - near_index  # only the far triangle there
        assert fragments.depth[46, 62].item() == pytest.approx(3.0)


def test_perspective_correct_interpolation_on_a_slanted_plane():
    # A quad whose depth varies strongly across the image; attributes are the camera-space positions, which are
    # affine on the plane, so correct interpolation reproduces the exact 3-D point seen at every pixel centre.
    vertices = lift([(2, 2), (62, 2), (62, 46), (2, 46)], [1.0, 4.0, 4.0, 1.0])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    image = TorchRasterizer().rasterize(vertices, faces, vertices, K, WIDTH, HEIGHT)
    ys, xs = torch.nonzero(image.mask, as_tuple=True)
    points = image.attributes[ys, xs]
    torch.testing.assert_close(points[:, 2], image.depth[ys, xs])
    projected = points @ K.T
    torch.testing.assert_close(projected[:, 0] / projected[:, 2], xs.double() + 0.5)
    torch.testing.assert_close(projected[:, 1] / projected[:, 2], ys.double() + 0.5)
    assert points[:, 2].min() < 1.5 and points[:, 2].max() > 3.5


def test_random_mesh_matches_brute_force_and_chunking_changes_nothing():
    g = torch.Generator().manual_seed(0)
    width, height = 24, 18
    k = torch.tensor([[30.0, 0, 12.0], [0, 30.0, 9.0], [0, 0, 1]], dtype=torch.float64)
    vertices = torch.rand(45, 3, generator=g, dtype=torch.float64) * torch.tensor([2.0, 2.0, 2.0]) - torch.tensor(
        [1.0, 1.0, -1.0]
    )  # x, y in [-1, 1], z in [1, 3]
    faces = torch.arange(45).reshape(15, 3)
    fragments = rasterize_mesh(vertices, faces, k, width, height)
    expected_face, expected_depth = brute_force(vertices.numpy(), faces.numpy(), k.numpy(), width, height)
    np.testing.assert_allclose(fragments.depth.numpy(), expected_depth, rtol=1e-9)
    agree = fragments.face_index.numpy() == expected_face
    # Disagreement is only allowed where two faces are at the same depth (an intersection line).
    assert agree.mean() > 0.98
    small = rasterize_mesh(vertices, faces, k, width, height, max_candidates=7)
    torch.testing.assert_close(small.depth, fragments.depth)
    torch.testing.assert_close(small.face_index, fragments.face_index)


def test_clipping_at_image_border_and_near_plane():
    big = lift([(-40, -30), (200, -30), (-40, 150)], 2.0)  # spills over every border
    fragments = rasterize_mesh(big, torch.tensor([[0, 1, 2]]), K, WIDTH, HEIGHT)
    expected, _ = brute_force(big.numpy(), np.array([[0, 1, 2]]), K.numpy(), WIDTH, HEIGHT)
    np.testing.assert_array_equal(fragments.face_index.numpy(), expected)
    behind = big * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    assert (rasterize_mesh(behind, torch.tensor([[0, 1, 2]]), K, WIDTH, HEIGHT).face_index < 0).all()


def test_degenerate_faces_draw_nothing():
    vertices = lift([(10, 10), (30, 30), (50, 50)], 2.0)  # collinear
    faces = torch.tensor([[0, 1, 2], [1, 1, 1]])
    assert (rasterize_mesh(vertices, faces, K, WIDTH, HEIGHT).face_index < 0).all()


def test_interpolate_attributes_zero_outside():
    vertices = lift([(10, 10), (40, 10), (10, 40)], 2.0)
    faces = torch.tensor([[0, 1, 2]])
    colours = torch.eye(3, dtype=torch.float64)
    fragments = rasterize_mesh(vertices, faces, K, WIDTH, HEIGHT)
    image = interpolate_attributes(fragments, faces, colours)
    assert image[~(fragments.face_index >= 0)].abs().max() == 0
    torch.testing.assert_close(image[fragments.face_index >= 0].sum(-1), torch.ones(1, dtype=torch.float64).expand(
        int((fragments.face_index >= 0).sum())))  # fmt: skip


def test_backend_registry():
    assert "torch" in available_backends()
    assert isinstance(get_backend(), TorchRasterizer)
    with pytest.raises(InputError, match="Unknown render backend"):
        get_backend("vulkan")

    class Flat:
        name = "flat"

        def rasterize(self, vertices, faces, attributes, intrinsics, width, height):
            return RasterImage(torch.zeros(height, width, attributes.shape[-1]), torch.full((height, width), 5.0))

    register_backend("flat", Flat)
    assert get_backend("flat").name == "flat"
    instance = Flat()
    assert get_backend(instance) is instance
    with pytest.raises(InputError):
        get_backend(object())


def test_gl_backend_without_moderngl_says_what_to_install(monkeypatch):
    from realisdance.pose import raster_gl

    monkeypatch.setitem(sys.modules, "moderngl", None)  # import fails as if not installed
    monkeypatch.setattr(raster_gl._local, "rasterizer", None, raising=False)  # no cached context
    with pytest.raises(InputError, match="pip install moderngl"):
        get_backend("gl")
    assert get_backend("auto").name == "torch"


def test_bad_mesh_inputs_are_input_errors():
    with pytest.raises(InputError, match="Vertices"):
        rasterize_mesh(torch.zeros(3, 2), torch.tensor([[0, 1, 2]]), K, WIDTH, HEIGHT)
    with pytest.raises(InputError, match="Faces"):
        rasterize_mesh(torch.zeros(3, 3), torch.tensor([[0.0, 1.0, 2.0]]), K, WIDTH, HEIGHT)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_rasterization_matches_cpu():
    g = torch.Generator().manual_seed(1)
    vertices = torch.rand(300, 3, generator=g) * torch.tensor([2.0, 2.0, 2.0]) - torch.tensor([1.0, 1.0, -1.0])
    faces = torch.arange(300).reshape(100, 3)
    k = K.float()
    cpu = rasterize_mesh(vertices, faces, k, WIDTH, HEIGHT)
    gpu = rasterize_mesh(vertices.cuda(), faces.cuda(), k.cuda(), WIDTH, HEIGHT)
    torch.testing.assert_close(gpu.depth.cpu(), cpu.depth, rtol=1e-5, atol=1e-6)
    assert (gpu.face_index.cpu() == cpu.face_index).float().mean() > 0.99
