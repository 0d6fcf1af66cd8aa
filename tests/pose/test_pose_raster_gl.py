"""The OpenGL backend against the torch oracle (skipped without moderngl or an EGL/GL context)."""

from __future__ import annotations

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import (
    RenderOptions,
    SMPLXSequence,
    TorchRasterizer,
    estimate_intrinsics,
    get_backend,
    pose_smplx,
    render_pose_conditions,
    vertex_normals,
)

WIDTH, HEIGHT = 192, 256


@pytest.fixture(scope="module")
def gl():
    pytest.importorskip("moderngl")
    try:
        return get_backend("gl")
    except InputError as exc:
        pytest.skip(f"no OpenGL context here: {exc}")


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_single_triangle_matches_the_oracle(gl):
    k = torch.tensor([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
    pixels = torch.tensor([[5.2, 3.7], [50.3, 10.1], [20.6, 40.4]])
    depth = torch.tensor([2.0, 3.0, 4.0])
    vertices = torch.cat([(pixels - k[:2, 2]) / 100.0 * depth[:, None], depth[:, None]], dim=-1)
    faces = torch.tensor([[0, 1, 2]])
    attributes = vertices.clone()  # affine on the plane: perspective-correct interpolation is exact
    ours = gl.rasterize(vertices, faces, attributes, k, 64, 48)
    oracle = TorchRasterizer().rasterize(vertices, faces, attributes, k, 64, 48)
    assert int((ours.mask ^ oracle.mask).sum()) <= 2  # GL snaps vertices to 1/256 px: an edge pixel may flip
    both = ours.mask & oracle.mask
    torch.testing.assert_close(ours.depth[both], oracle.depth[both], rtol=1e-5, atol=0)
    torch.testing.assert_close(ours.attributes[both], oracle.attributes[both], rtol=1e-4, atol=1e-5)
    assert torch.isinf(ours.depth[~ours.mask]).all() and ours.attributes[~ours.mask].abs().max() == 0


def test_body_raster_matches_the_oracle(gl, smplx_model, facing_params):
    vertices = pose_smplx(smplx_model, facing_params(1)).vertices[0]
    faces = smplx_model.faces
    attributes = torch.cat([torch.rand(len(vertices), 3, generator=torch.Generator().manual_seed(0)),
                            vertex_normals(vertices, faces)], dim=-1)  # fmt: skip
    k = estimate_intrinsics(WIDTH, HEIGHT)
    ours = gl.rasterize(vertices, faces, attributes, k, WIDTH, HEIGHT)
    oracle = TorchRasterizer().rasterize(vertices, faces, attributes, k, WIDTH, HEIGHT)
    assert iou(ours.mask, oracle.mask) > 0.995
    both = ours.mask & oracle.mask
    close = ((ours.attributes - oracle.attributes).abs().amax(-1) < 1e-3)[both]
    assert close.float().mean() > 0.97  # the rest: edge pixels where the two pick different (tied) triangles


def test_condition_videos_match_the_oracle(gl, smplx_model, facing_params):
    sequence = SMPLXSequence(facing_params(1), estimate_intrinsics(WIDTH, HEIGHT)[None], WIDTH, HEIGHT)
    colours = torch.rand(smplx_model.num_vertices, 3, generator=torch.Generator().manual_seed(1))
    ours = render_pose_conditions(smplx_model, sequence, colours, RenderOptions(backend="gl"))
    oracle = render_pose_conditions(smplx_model, sequence, colours, RenderOptions(backend="torch"))
    assert (ours.smpl_cs - oracle.smpl_cs).abs().mean() < 1 / 255
    assert iou(ours.hands.amax(-1) > 0, oracle.hands.amax(-1) > 0) > 0.95  # thin procedural fingers: edge-heavy
    assert (ours.hands - oracle.hands).abs().mean() < 1 / 255


def test_auto_backend_prefers_gl(gl):
    assert get_backend("auto").name == "gl"
