"""Render RealisDance-DiT's two pose-condition videos from a camera-space SMPL-X sequence.

* SMPL-CS (``smpl`` input): the SMPL-X mesh with the fixed per-vertex colour table, smooth headlight shading
  colour * (0.4 + 0.3 max(0, n·l)) + 0.2, on black (GVHMR_realisdance ``render_incam``).
* Hands (``hamer`` input): the SMPL-X hand sub-mesh, right (1, .5, .5) / left (.5, 1, .5), shading
  colour * (0.3 + 0.75 max(0, n·l)) + 0.2, hidden where the body is in front (Uni3C ``alignment.py``).

Frames come out at the sequence's image size as ComfyUI IMAGE batches: float32 (F, H, W, 3) in [0, 1] on the CPU.
The reference renders in a crop around the body and pastes it into a black frame; rendering the full frame
directly gives the same pixels. Posing and rasterizing run on ``device`` (default: the model's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import InputError
from .body_model import SMPLXModel
from .hands import DEFAULT_OCCLUSION_TOLERANCE, HandMesh, smplx_hand_mesh, visible_hand_mask
from .posing import pose_smplx
from .render_backend import RasterBackend, RasterImage, get_backend
from .shading import HAND_MATERIAL, SMPL_CS_MATERIAL, HeadlightMaterial, shade_headlight, vertex_normals
from .smplx_params import SMPLXSequence

POSE_CHUNK_FRAMES = 16  # frames posed at once; rendering is per frame anyway

ProgressCallback = Callable[[int, int], None]  # (frames done, total)


@dataclass(frozen=True)
class PoseConditionVideos:
    """smpl_cs and hands: (F, H, W, 3) float32 in [0, 1], or None when not requested."""

    smpl_cs: torch.Tensor | None
    hands: torch.Tensor | None


@dataclass(frozen=True)
class RenderOptions:
    """How the condition videos are drawn; the defaults are the release's look."""

    backend: str | RasterBackend | None = None  # "torch" (reference), "gl" (moderngl), "auto" or a RasterBackend
    smpl_cs: bool = True  # draw the SMPL-CS video
    hands: bool = True  # draw the hand video
    occlude_hands: bool = True  # hide hand pixels behind the body (the reference behaviour)
    occlusion_tolerance: float = DEFAULT_OCCLUSION_TOLERANCE  # relative depth slack of that test
    device: torch.device | str | None = None  # where posing and rasterizing run (default: the model's)


@dataclass(frozen=True)
class HandGeometry:
    """The hands to draw instead of the posed body's own SMPL-X hands.

    ``vertices`` (F, N, 3): camera-space positions of ``mesh``'s vertices per frame, e.g. registered HaMeR hands
    (:func:`~.hamer.register_hamer_hands` with :func:`~.hamer.mano_hand_mesh`); None: the posed body's.
    """

    mesh: HandMesh
    vertices: torch.Tensor | None = None


def render_pose_conditions(
    model: SMPLXModel,
    sequence: SMPLXSequence,
    colours: torch.Tensor | None,
    options: RenderOptions = RenderOptions(),
    hands: HandGeometry | None = None,
    progress: ProgressCallback | None = None,
) -> PoseConditionVideos:
    """Render the SMPL-CS and/or hand videos in one pass (the hands need the body's depth anyway).

    colours: (10475, 3) SMPL-CS vertex colours in [0, 1] (:func:`~.vertex_colours.load_vertex_colours`); only
    needed for SMPL-CS. hands default to :func:`~.hands.smplx_hand_mesh` of the model, posed with the body.
    progress(done, total) is called after every frame; it may raise to cancel (e.g. ComfyUI's interrupt check).
    """
    if not (options.smpl_cs or options.hands):
        return PoseConditionVideos(None, None)
    device = torch.device(options.device) if options.device is not None else model.device
    model = model.to(device=device)
    raster = get_backend(options.backend)
    if options.smpl_cs:
        colours = _check_colours(colours, model).to(device=device, dtype=model.dtype)
    hand_vertices = None if hands is None else hands.vertices
    hand_mesh = None
    if options.hands:
        hand_mesh = (hands.mesh if hands is not None else smplx_hand_mesh(model)).to(device)
    if hand_mesh is not None and hand_vertices is not None:
        expected = (sequence.num_frames, hand_mesh.vertex_ids.numel(), 3)
        if tuple(hand_vertices.shape) != expected:
            raise InputError(
                f"Hand vertices have shape {tuple(hand_vertices.shape)} but the sequence and hand mesh need {expected}."
            )
    occlude_hands = options.occlude_hands and options.hands

    frames, height, width = sequence.num_frames, sequence.height, sequence.width
    smpl_out = torch.zeros(frames, height, width, 3) if options.smpl_cs else None
    hand_out = torch.zeros(frames, height, width, 3) if hand_mesh is not None else None
    faces = model.faces
    for start in range(0, frames, POSE_CHUNK_FRAMES):
        chunk = sequence.select(slice(start, start + POSE_CHUNK_FRAMES))
        vertices = pose_smplx(model, chunk.params).vertices
        intrinsics = chunk.intrinsics.to(device=device, dtype=model.dtype)
        for offset in range(vertices.shape[0]):
            index = start + offset
            verts, k = vertices[offset], intrinsics[offset]
            body = None
            if smpl_out is not None:
                attributes = torch.cat([colours, vertex_normals(verts, faces)], dim=-1)
                body = raster.rasterize(verts, faces, attributes, k, width, height)
                _shade_pixels_into(smpl_out[index], body, body.mask, SMPL_CS_MATERIAL)
            elif occlude_hands:  # the hands still need the body's depth
                body = raster.rasterize(verts, faces, verts.new_zeros(len(verts), 0), k, width, height)
            if hand_out is not None:
                occluder = body.depth if occlude_hands else None
                hand_verts = verts[hand_mesh.vertex_ids]
                if hand_vertices is not None:
                    hand_verts = hand_vertices[index].to(device=device, dtype=verts.dtype)
                _render_hand_frame_into(
                    hand_out[index],
                    raster,
                    hand_mesh,
                    hand_verts,
                    k,
                    occluder,
                    width,
                    height,
                    options.occlusion_tolerance,
                )
            if progress is not None:
                progress(index + 1, frames)
    return PoseConditionVideos(smpl_cs=smpl_out, hands=hand_out)


def render_smpl_cs(
    model: SMPLXModel,
    sequence: SMPLXSequence,
    colours: torch.Tensor,
    options: RenderOptions = RenderOptions(),
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """The SMPL-CS video alone, (F, H, W, 3) float32 in [0, 1]."""
    only_body = dataclasses.replace(options, smpl_cs=True, hands=False)
    return render_pose_conditions(model, sequence, colours, only_body, progress=progress).smpl_cs


def render_hands(
    model: SMPLXModel,
    sequence: SMPLXSequence,
    options: RenderOptions = RenderOptions(),
    hands: HandGeometry | None = None,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """The hand video alone, (F, H, W, 3) float32 in [0, 1]; still rasterizes the body for occlusion."""
    only_hands = dataclasses.replace(options, smpl_cs=False, hands=True)
    return render_pose_conditions(model, sequence, None, only_hands, hands, progress).hands


def _render_hand_frame_into(
    out: torch.Tensor,
    raster: RasterBackend,
    hands: HandMesh,
    verts: torch.Tensor,
    intrinsics: torch.Tensor,
    body_depth: torch.Tensor | None,
    width: int,
    height: int,
    tolerance: float,
) -> torch.Tensor:
    # Normals of the hand sub-mesh itself, as the reference builds a separate hand mesh.
    attributes = torch.cat([hands.colours.to(verts.dtype), vertex_normals(verts, hands.faces)], dim=-1)
    image = raster.rasterize(verts, hands.faces, attributes, intrinsics, width, height)
    _shade_pixels_into(out, image, visible_hand_mask(image, body_depth, tolerance), HAND_MATERIAL)


def _shade_pixels_into(out: torch.Tensor, image: RasterImage, mask: torch.Tensor, material: HeadlightMaterial) -> None:
    """Shade the ``mask`` pixels of an image holding [colour, normal] attributes into ``out`` (H, W, 3), which is
    already black: only the covered pixels are touched, so no full-frame buffer is allocated per frame (that was a
    tenth of the GL backend's frame time)."""
    channels = image.attributes.shape[-1]
    selected = mask.reshape(-1).nonzero()[:, 0]
    attributes = image.attributes.reshape(-1, channels).index_select(0, selected)
    shaded = shade_headlight(attributes[:, :3], attributes[:, 3:6], material)
    out.view(-1, 3).index_copy_(0, selected.to(out.device), shaded.to(device=out.device, dtype=out.dtype))


def _check_colours(colours: torch.Tensor | None, model: SMPLXModel) -> torch.Tensor:
    if colours is None:
        raise InputError("SMPL-CS rendering needs the vertex colour table (smplx_color.pt); none was given.")
    if not isinstance(colours, torch.Tensor) or tuple(colours.shape) != (model.num_vertices, 3):
        shape = tuple(colours.shape) if hasattr(colours, "shape") else type(colours).__name__
        raise InputError(
            f"The vertex colour table has shape {shape} but the body model has {model.num_vertices} vertices "
            "(expected (10475, 3) for SMPL-X): use smplx_color.pt with an SMPL-X model."
        )
    return colours
