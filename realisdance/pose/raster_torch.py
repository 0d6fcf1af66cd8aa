"""Reference z-buffer rasterizer in plain torch: needs nothing, runs on CPU or GPU, and is the test oracle.

Vectorised over (triangle, pixel) fragments: every triangle is cut into one pixel span per image row (from its
edge functions), the spans expand to pixels, all fragments get perspective-correct barycentrics and depth at
once, and the depth test is a scatter-min per pixel. Spans are processed in chunks of at most
``max_candidates`` fragments so memory stays bounded when a triangle covers much of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from .camera import project_points
from .raster_image import RasterImage

DEFAULT_NEAR = 1e-3  # metres in front of the camera; triangles with a vertex closer are dropped
DEFAULT_MAX_CANDIDATES = 1 << 21  # fragments per chunk; ~100 bytes of temporaries each, so ~200 MB at most


@dataclass(frozen=True)
class Fragments:
    """Per pixel: face_index (H, W) long, -1 where empty; barycentric (H, W, 3) perspective-correct weights of
    that face's three vertices; depth (H, W) camera-space z, +inf where empty."""

    face_index: torch.Tensor
    barycentric: torch.Tensor
    depth: torch.Tensor


def rasterize_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    intrinsics: torch.Tensor,
    width: int,
    height: int,
    near: float = DEFAULT_NEAR,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
) -> Fragments:
    """Rasterize camera-space ``vertices`` (V, 3) / ``faces`` (F, 3) seen through ``intrinsics`` (3, 3).

    A pixel is covered when its centre lies inside or on the edge of a triangle (either winding); the nearest
    covering triangle wins, ties going to the higher face index.
    """
    _check_mesh(vertices, faces, intrinsics, width, height)
    device, dtype = vertices.device, vertices.dtype
    num_pixels = width * height
    depth_buffer = torch.full((num_pixels,), float("inf"), device=device, dtype=dtype)
    face_buffer = torch.full((num_pixels,), -1, device=device, dtype=torch.long)
    bary_buffer = torch.zeros(num_pixels, 3, device=device, dtype=dtype)
    chosen_buffer = torch.full((num_pixels,), -1, device=device, dtype=torch.long)  # scratch, reset after use

    setup = _triangle_setup(vertices, faces, intrinsics, width, height, near)
    if setup is not None:
        spans = _row_spans(*setup)
        if spans is not None:
            face_ids, row_y, span_first, counts, weights = spans
            budget = max(int(max_candidates), width)  # one span never exceeds an image row
            ends = torch.cumsum(counts, 0)
            start, total = 0, len(counts)
            while start < total:
                base = int(ends[start - 1]) if start else 0
                stop = max(int(torch.searchsorted(ends, base + budget, right=True)), start + 1)
                chunk = slice(start, stop)
                _rasterize_spans(
                    face_ids[chunk],
                    row_y[chunk],
                    span_first[chunk],
                    counts[chunk],
                    weights[chunk],
                    width,
                    depth_buffer,
                    face_buffer,
                    bary_buffer,
                    chosen_buffer,
                )
                start = stop

    return Fragments(
        face_index=face_buffer.view(height, width),
        barycentric=bary_buffer.view(height, width, 3),
        depth=depth_buffer.view(height, width),
    )


def interpolate_attributes(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """(V, C) per-vertex attributes -> (H, W, C) at every covered pixel (zero elsewhere)."""
    height, width = fragments.face_index.shape
    channels = attributes.shape[-1]
    out = torch.zeros(height * width, channels, device=attributes.device, dtype=attributes.dtype)
    face_flat = fragments.face_index.reshape(-1)
    covered = (face_flat >= 0).nonzero()[:, 0]
    corners = faces.long().index_select(0, face_flat.index_select(0, covered))  # (N, 3)
    corner_values = attributes.index_select(0, corners.reshape(-1)).reshape(len(covered), 3, channels)
    bary = fragments.barycentric.reshape(-1, 3).index_select(0, covered).to(attributes.dtype)
    out.index_copy_(0, covered, (corner_values * bary[..., None]).sum(1))
    return out.view(height, width, channels)


class TorchRasterizer:
    """:class:`~.render_backend.RasterBackend` built on :func:`rasterize_mesh`."""

    name = "torch"

    def __init__(self, near: float = DEFAULT_NEAR, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
        self.near = near
        self.max_candidates = max_candidates

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        attributes: torch.Tensor,
        intrinsics: torch.Tensor,
        width: int,
        height: int,
    ) -> RasterImage:
        fragments = rasterize_mesh(vertices, faces, intrinsics, width, height, self.near, self.max_candidates)
        return RasterImage(attributes=interpolate_attributes(fragments, faces, attributes), depth=fragments.depth)


def _check_mesh(vertices: torch.Tensor, faces: torch.Tensor, intrinsics: torch.Tensor, width: int, height: int):
    if vertices.dim() != 2 or vertices.shape[-1] != 3:
        raise InputError(f"Vertices must be (V, 3), got {tuple(vertices.shape)}.")
    if faces.dim() != 2 or faces.shape[-1] != 3 or faces.dtype not in (torch.int32, torch.int64):
        raise InputError(f"Faces must be (F, 3) integer indices, got {tuple(faces.shape)} {faces.dtype}.")
    if tuple(intrinsics.shape) != (3, 3):
        raise InputError(f"Intrinsics must be (3, 3), got {tuple(intrinsics.shape)}.")
    if width <= 0 or height <= 0:
        raise InputError(f"Image size must be positive, got {width}x{height}.")


def _triangle_setup(vertices, faces, intrinsics, width, height, near):
    """Screen-space data of the drawable triangles, or None when none is.

    Returns (face ids, coefficients (T, 12), x_lo, x_hi, y_lo, y_hi: the clipped pixel box). coefficients hold, per
    vertex i, the edge function l_i(x, y) = a_i x + b_i y + c_i (the screen-space barycentric weight, already
    divided by the signed area, so it is 1 at vertex i and 0 on the opposite edge) and 1/z_i.
    """
    faces = faces.long()
    projected = project_points(vertices, intrinsics.to(vertices))[faces]  # (F, 3 corners, [x, y, z])
    x, y, z = projected.unbind(-1)
    x0, x1, x2 = x.unbind(-1)
    y0, y1, y2 = y.unbind(-1)
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    # |p| < inf instead of isfinite (also False for NaN): the same test, several times cheaper on CPU.
    keep = (z > near).all(-1) & (projected.abs() < float("inf")).all(-1).all(-1) & (area.abs() > 1e-10)

    # Pixel i is sampled at i + 0.5, so the covered range of a box [min, max] is ceil(min - .5) .. floor(max - .5).
    x_lo = torch.ceil(x.amin(-1).clamp(-1, width + 1) - 0.5).long().clamp(min=0)
    x_hi = torch.floor(x.amax(-1).clamp(-1, width + 1) - 0.5).long().clamp(max=width - 1)
    y_lo = torch.ceil(y.amin(-1).clamp(-1, height + 1) - 0.5).long().clamp(min=0)
    y_hi = torch.floor(y.amax(-1).clamp(-1, height + 1) - 0.5).long().clamp(max=height - 1)
    keep &= (x_lo <= x_hi) & (y_lo <= y_hi)
    face_ids = keep.nonzero()[:, 0]
    if face_ids.numel() == 0:
        return None

    x0, x1, x2, y0, y1, y2 = (t[face_ids] for t in (x0, x1, x2, y0, y1, y2))
    inv_area = 1.0 / area[face_ids]
    # l0 = area(p, v1, v2) / area, l1 = area(v0, p, v2) / area, l2 = area(v0, v1, p) / area, each linear in p.
    coefficients = torch.stack(
        [
            (y1 - y2) * inv_area,
            (x2 - x1) * inv_area,
            (x1 * y2 - x2 * y1) * inv_area,
            (y2 - y0) * inv_area,
            (x0 - x2) * inv_area,
            (x2 * y0 - x0 * y2) * inv_area,
            (y0 - y1) * inv_area,
            (x1 - x0) * inv_area,
            (x0 * y1 - x1 * y0) * inv_area,
            *(1.0 / z[face_ids]).unbind(-1),
        ],
        dim=-1,
    )
    return face_ids, coefficients, x_lo[face_ids], x_hi[face_ids], y_lo[face_ids], y_hi[face_ids]


def _row_spans(face_ids, coefficients, x_lo, x_hi, y_lo, y_hi):
    """Cut every triangle into one pixel span per image row it touches.

    On the row through pixel centres y + 0.5, each edge function l_i = a_i x + b_i y + c_i >= 0 bounds x from one
    side (a_i > 0: below, a_i < 0: above, a_i = 0: all or nothing), so the covered pixels form one interval.
    Enumerating only those intervals keeps the fragment count near the covered area, where bounding boxes of
    thin slanted triangles would be several times larger.

    Returns, per non-empty span: face id, pixel row, first pixel column, pixel count, and the perspective weights
    w_i = l_i / z_i at the first pixel centre plus their per-pixel step (6 values: w_i is affine along the row,
    so fragments need nothing else). None when nothing is covered.
    """
    device = face_ids.device
    heights = y_hi - y_lo + 1
    rows_total = int(heights.sum())
    tri = torch.repeat_interleave(torch.arange(len(face_ids), device=device), heights, output_size=rows_total)
    first_row = torch.cumsum(heights, 0) - heights
    row_y = (y_lo - first_row).index_select(0, tri) + torch.arange(rows_total, device=device)
    coef = coefficients.index_select(0, tri)
    sy = row_y.to(coef.dtype)[:, None] + 0.5
    a = coef[:, 0:9:3]
    rest = coef[:, 1:9:3] * sy + coef[:, 2:9:3]  # l_i = a_i x + rest_i on this row
    bound = -rest / torch.where(a == 0, torch.ones_like(a), a)
    inf = torch.full_like(bound, float("inf"))
    lower = torch.where(a > 0, bound, -inf).amax(-1)
    upper = torch.where(a < 0, bound, inf).amin(-1)
    blocked = ((a == 0) & (rest < 0)).any(-1)  # parallel edge with the row on its outside
    first = torch.ceil(lower.clamp(-1.0, 1e7) - 0.5).long()
    last = torch.floor(upper.clamp(-1.0, 1e7) - 0.5).long()
    first = torch.maximum(first, x_lo.index_select(0, tri))
    last = torch.minimum(last, x_hi.index_select(0, tri))
    counts = (last - first + 1).clamp(min=0).masked_fill(blocked, 0)
    keep = (counts > 0).nonzero()[:, 0]
    if keep.numel() == 0:
        return None
    first, a, rest = first.index_select(0, keep), a.index_select(0, keep), rest.index_select(0, keep)
    inv_z = coef.index_select(0, keep)[:, 9:12]
    start_weights = (a * (first.to(coef.dtype)[:, None] + 0.5) + rest) * inv_z
    weights = torch.cat([start_weights, a * inv_z], dim=-1)
    tri = tri.index_select(0, keep)
    return face_ids.index_select(0, tri), row_y.index_select(0, keep), first, counts.index_select(0, keep), weights


def _rasterize_spans(face_ids, row_y, span_first, counts, weights, width, depth_buf, face_buf, bary_buf, chosen):
    """Perspective-correct barycentrics and depth at every span pixel, then a z-test merge into the buffers."""
    device = face_ids.device
    total = int(counts.sum())
    span = torch.repeat_interleave(torch.arange(len(counts), device=device), counts, output_size=total)
    position = torch.arange(total, device=device)
    span_start = torch.cumsum(counts, 0) - counts
    # pixel = row * width + first + (position - span_start): one gather of a per-span offset.
    pixel = (row_y * width + span_first - span_start).index_select(0, span) + position
    step = (position - span_start.index_select(0, span)).to(weights.dtype)[:, None]
    per_span = weights.index_select(0, span)
    # w_i = l_i / z_i; spans hold only covered centres, clamping removes rounding just outside an edge.
    weighted = (per_span[:, :3] + per_span[:, 3:] * step).clamp(min=0)
    inv_depth = weighted.sum(-1).clamp(min=torch.finfo(weighted.dtype).tiny)
    depth = 1.0 / inv_depth
    bary = weighted * depth[:, None]

    depth_buf.scatter_reduce_(0, pixel, depth, reduce="amin", include_self=True)
    winner = (depth <= depth_buf.index_select(0, pixel)).nonzero()[:, 0]  # equals the new minimum
    winner_pixel = pixel.index_select(0, winner)
    # Several fragments can tie at a pixel; the highest fragment index (= highest face) wins.
    chosen.scatter_reduce_(0, winner_pixel, winner, reduce="amax", include_self=True)
    hit = (chosen >= 0).nonzero()[:, 0]
    best = chosen.index_select(0, hit)
    face_buf[hit] = face_ids.index_select(0, span.index_select(0, best))
    bary_buf[hit] = bary.index_select(0, best)
    chosen.index_fill_(0, winner_pixel, -1)
