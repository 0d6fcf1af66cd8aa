"""Pose conditions for RealisDance-DiT: body models, skinning, GVHMR import and the SMPL-CS / hand renders.

Typical use::

    model = load_smplx(body_models_dir)                      # <dir>/smplx/SMPLX_NEUTRAL.npz
    colours = load_vertex_colours(body_models_dir)           # <dir>/smplx/smplx_color.pt
    sequence = load_gvhmr("hmr4d_results.pt", image_size=(width, height), fps=fps)
    videos = render_pose_conditions(model, sequence, colours)  # .smpl_cs, .hands: (F, H, W, 3) in [0, 1]

Nothing here imports ComfyUI, and body-model files are always user-supplied (MPI licences).
"""

from .body_model import MANOModel, SkinnedModel, SMPLXModel
from .camera import estimate_intrinsics, project_points
from .conditions import (
    HandGeometry,
    PoseConditionVideos,
    RenderOptions,
    render_hands,
    render_pose_conditions,
    render_smpl_cs,
)
from .fitting import ShapeFitOptions, ShapeFitResult, fit_reference_shape
from .gvhmr import gvhmr_sequence, load_gvhmr
from .hamer import (
    HandDetections,
    ManoCorrespondence,
    load_hamer,
    load_mano_correspondence,
    mano_hand_mesh,
    register_hamer_hands,
)
from .hands import HandMesh, hand_vertex_ids, smplx_hand_mesh, visible_hand_mask
from .keypoints import PersonKeypoints, person_keypoints
from .landmarks import Landmark, LandmarkSet
from .lbs import SkinnedOutput, linear_blend_skinning
from .mano_io import find_mano_file, load_mano
from .posing import pose_mano, pose_smplx
from .raster_gl import GLRasterizer
from .raster_torch import Fragments, TorchRasterizer, interpolate_attributes, rasterize_mesh
from .render_backend import RasterBackend, RasterImage, available_backends, get_backend, register_backend
from .rotations import axis_angle_to_matrix
from .shading import HAND_MATERIAL, SMPL_CS_MATERIAL, HeadlightMaterial, shade_headlight, vertex_normals
from .shape_transfer import transfer_shape
from .smoothing import SmoothingOptions, smooth_sequence
from .smplx_io import find_smplx_file, load_smplx
from .smplx_params import SMPLXParams, SMPLXSequence
from .umeyama import Similarity, fit_similarity
from .vertex_colours import find_colour_table, load_vertex_colours

__all__ = [
    "ShapeFitOptions",
    "ShapeFitResult",
    "fit_reference_shape",
    "HandDetections",
    "ManoCorrespondence",
    "load_hamer",
    "load_mano_correspondence",
    "mano_hand_mesh",
    "register_hamer_hands",
    "PersonKeypoints",
    "person_keypoints",
    "Landmark",
    "LandmarkSet",
    "transfer_shape",
    "SmoothingOptions",
    "smooth_sequence",
    "Similarity",
    "fit_similarity",
    "HAND_MATERIAL",
    "SMPL_CS_MATERIAL",
    "Fragments",
    "GLRasterizer",
    "HandMesh",
    "HeadlightMaterial",
    "MANOModel",
    "PoseConditionVideos",
    "RasterBackend",
    "RasterImage",
    "SMPLXModel",
    "SMPLXParams",
    "SMPLXSequence",
    "SkinnedModel",
    "SkinnedOutput",
    "TorchRasterizer",
    "available_backends",
    "axis_angle_to_matrix",
    "estimate_intrinsics",
    "find_colour_table",
    "find_mano_file",
    "find_smplx_file",
    "get_backend",
    "gvhmr_sequence",
    "hand_vertex_ids",
    "interpolate_attributes",
    "linear_blend_skinning",
    "load_gvhmr",
    "load_mano",
    "load_smplx",
    "load_vertex_colours",
    "pose_mano",
    "pose_smplx",
    "project_points",
    "rasterize_mesh",
    "register_backend",
    "render_hands",
    "RenderOptions",
    "HandGeometry",
    "render_pose_conditions",
    "render_smpl_cs",
    "shade_headlight",
    "smplx_hand_mesh",
    "vertex_normals",
    "visible_hand_mask",
]
