"""Pose nodes: body models, GVHMR import, SMPL-CS and hand rendering (thin V3 schemas around realisdance.pose)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from realisdance.errors import CheckpointError, InputError
from realisdance.pose import (
    HandDetections,
    HandGeometry,
    MANOModel,
    RenderOptions,
    SMPLXModel,
    SMPLXSequence,
    TorchRasterizer,
    find_colour_table,
    find_smplx_file,
    get_backend,
    load_gvhmr,
    load_mano,
    load_mano_correspondence,
    load_smplx,
    load_vertex_colours,
    mano_hand_mesh,
    register_hamer_hands,
    render_pose_conditions,
)

from . import host
from .host import io
from .pose_types import CATEGORY, BodyModelType, HamerHandsType, SMPLXSequenceType

# ---- where pose files live ----

# Body models go to models/realisdance/<folder>/ in the smplx package layout: smplx/SMPLX_NEUTRAL.npz,
# smplx/smplx_color.pt, mano/MANO_RIGHT.pkl. The default folder is always offered, so a user without the files
# gets an error saying where to put them instead of an empty list.
DEFAULT_BODY_FOLDER = "body_models"
SMPLX_SUFFIXES = (".npz", ".pkl")
BACKENDS = ["auto", "gl", "torch"]


def _holds_smplx(folder: Path) -> bool:
    return any(
        (place / f"SMPLX_{gender}{suffix}").is_file()
        for place in (folder / "smplx", folder)
        for gender in ("NEUTRAL", "MALE", "FEMALE")
        for suffix in SMPLX_SUFFIXES
    )


def body_model_folders() -> list[str]:
    """Sub-folders of models/realisdance holding an SMPL-X file, the default folder first."""
    return host.model_subfolder_choices(_holds_smplx, DEFAULT_BODY_FOLDER)


def resolve_body_folder(name: str) -> Path:
    """The first models/realisdance/<name> holding SMPL-X; else the default path, for the error to name."""
    return host.resolve_model_subfolder(name, _holds_smplx)


GVHMR_EXTENSIONS = (".pt", ".pth")


# ---- the body-model bundle ----


@dataclass(frozen=True)
class BodyModels:
    """What the body-model loader hands to the other pose nodes.

    colours is None when smplx_color.pt was not found; colours_missing then holds the error to raise when a
    node needs it (only the SMPL-CS render does). The MANO hands are loaded only on request (HaMeR import).
    """

    smplx: SMPLXModel
    colours: torch.Tensor | None
    folder: str
    colours_missing: str = ""
    mano_right: MANOModel | None = None
    mano_left: MANOModel | None = None

    def require_colours(self) -> torch.Tensor:
        if self.colours is None:
            raise CheckpointError(self.colours_missing)
        return self.colours


def load_body_models(folder: Path, gender: str, with_mano: bool) -> BodyModels:
    smplx = load_smplx(find_smplx_file(folder, gender))
    try:
        colours, missing = load_vertex_colours(find_colour_table(folder), smplx.num_vertices), ""
    except CheckpointError as exc:
        if (folder / "smplx" / "smplx_color.pt").exists() or (folder / "smplx_color.pt").exists():
            raise  # present but unreadable: say so now, not at render time
        colours, missing = None, str(exc)
    hands = {side: load_mano(folder, side) if with_mano else None for side in ("right", "left")}
    return BodyModels(smplx, colours, str(folder), missing, hands["right"], hands["left"])


# ---- nodes ----


class RealisDanceBodyModelLoader(io.ComfyNode):
    """Load SMPL-X (+ the SMPL-CS colour table, optionally MANO) from models/realisdance/<folder>/."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceBodyModelLoader",
            display_name="RealisDance Body Model Loader",
            category=CATEGORY,
            description=(
                "Loads the SMPL-X body model and the SMPL-CS vertex colour table for the pose renders. The files "
                "are licensed and never shipped: put SMPLX_NEUTRAL.npz (or .pkl) and smplx_color.pt in "
                "models/realisdance/body_models/smplx/, and MANO_RIGHT.pkl / MANO_LEFT.pkl in .../mano/."
            ),
            inputs=[
                io.Combo.Input(
                    "folder",
                    options=body_model_folders(),
                    default=DEFAULT_BODY_FOLDER,
                    tooltip=(
                        "A folder of models/realisdance/ laid out like the smplx package: smplx/SMPLX_NEUTRAL.npz, "
                        "smplx/smplx_color.pt, mano/MANO_RIGHT.pkl. Folders holding an SMPL-X file are listed."
                    ),
                ),
                io.Combo.Input(
                    "gender",
                    options=["neutral", "male", "female"],
                    default="neutral",
                    tooltip="Which SMPL-X file (SMPLX_NEUTRAL/MALE/FEMALE). GVHMR fits with neutral.",
                ),
                io.Boolean.Input(
                    "load_mano",
                    default=False,
                    tooltip="Also load MANO_RIGHT.pkl and MANO_LEFT.pkl (needed only to import HaMeR hands).",
                ),
            ],
            outputs=[
                BodyModelType.Output(
                    display_name="body_model", tooltip="SMPL-X (+ colour table, MANO), for the pose nodes."
                )
            ],
        )

    @classmethod
    def execute(cls, folder: str, gender: str = "neutral", load_mano: bool = False) -> io.NodeOutput:
        return io.NodeOutput(load_body_models(resolve_body_folder(folder), gender, load_mano))


class RealisDanceLoadGVHMR(io.ComfyNode):
    """Read GVHMR's result file (hmr4d_results.pt) as an SMPL-X sequence in the driving video's camera."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceLoadGVHMR",
            display_name="RealisDance Load GVHMR Motion",
            category=CATEGORY,
            description=(
                "Reads the SMPL-X motion GVHMR estimated from the driving video (its demo writes "
                "hmr4d_results.pt) with the per-frame camera, ready to render the SMPL-CS and hand videos."
            ),
            inputs=[
                io.Combo.Input(
                    "path",
                    options=host.input_file_choices(GVHMR_EXTENSIONS),
                    tooltip="GVHMR's result file (hmr4d_results.pt), copied into ComfyUI's input folder (sub-folders "
                    "too); press R after copying. Files outside the input folder are not read.",
                ),
                io.Int.Input(
                    "width",
                    default=0,
                    min=0,
                    max=8192,
                    tooltip=(
                        "Width of the driving video in pixels; 0 reads it from GVHMR's camera (principal point at "
                        "the image centre). A smaller size of the same aspect ratio renders faster."
                    ),
                ),
                io.Int.Input(
                    "height", default=0, min=0, max=8192, tooltip="Height in pixels; 0 reads it from the camera."
                ),
                io.Float.Input(
                    "fps",
                    default=30.0,
                    min=1.0,
                    max=240.0,
                    step=0.01,
                    tooltip=(
                        "Frame rate of the video GVHMR ran on (the file does not store it). Passed on to "
                        "RealisDance Conditions' pose_fps, which resamples the renders to 16 fps."
                    ),
                ),
                io.Int.Input(
                    "start_frame", default=0, min=0, max=1_000_000, tooltip="First frame to keep (0: the start)."
                ),
                io.Int.Input(
                    "frame_count",
                    default=0,
                    min=0,
                    max=1_000_000,
                    tooltip="How many frames to keep from start_frame; 0 keeps all the rest.",
                ),
                io.Combo.Input(
                    "camera",
                    options=["incam", "global"],
                    default="incam",
                    tooltip=(
                        "incam: the parameters in the video's camera (what RealisDance renders). global: the "
                        "gravity-aligned world parameters, for inspection only."
                    ),
                ),
                io.Boolean.Input(
                    "match_intrinsics",
                    default=True,
                    tooltip=(
                        "Scale the camera to width x height when the video was resized after GVHMR ran; a size of "
                        "another aspect ratio is then an error. Off: take the camera as it is."
                    ),
                ),
            ],
            outputs=[
                SMPLXSequenceType.Output(display_name="motion", tooltip="The SMPL-X sequence and its camera."),
                io.Int.Output(display_name="width", tooltip="Image width the motion renders at."),
                io.Int.Output(display_name="height", tooltip="Image height the motion renders at."),
                io.Int.Output(display_name="frame_count", tooltip="Number of frames."),
                io.Float.Output(display_name="fps", tooltip="The frame rate given above."),
            ],
        )

    @classmethod
    def execute(
        cls,
        path: str,
        width: int = 0,
        height: int = 0,
        fps: float = 30.0,
        start_frame: int = 0,
        frame_count: int = 0,
        camera: str = "incam",
        match_intrinsics: bool = True,
    ) -> io.NodeOutput:
        if (width == 0) != (height == 0):
            raise InputError(f"Give both width and height, or leave both at 0 (got {width}x{height}).")
        sequence = load_gvhmr(
            host.resolve_input_file(path, "GVHMR result"),
            image_size=(width, height) if width else None,
            fps=fps,
            params_key=f"smpl_params_{camera}",
            match_intrinsics=match_intrinsics,
        )
        sequence = select_frames(sequence, start_frame, frame_count)
        return io.NodeOutput(sequence, sequence.width, sequence.height, sequence.num_frames, fps)


def select_frames(sequence: SMPLXSequence, start: int, count: int) -> SMPLXSequence:
    if start >= sequence.num_frames:
        raise InputError(f"start_frame {start} is past the end of the motion ({sequence.num_frames} frames).")
    stop = sequence.num_frames if count == 0 else min(sequence.num_frames, start + count)
    return sequence if (start, stop) == (0, sequence.num_frames) else sequence.select(slice(start, stop))


def registered_hands(bodies: BodyModels, motion: SMPLXSequence, hands: HandDetections):
    """HaMeR hands fitted onto the posed SMPL-X hands: the MANO-topology hand mesh and its (F, 1556, 3) vertices."""
    correspondence = load_mano_correspondence(bodies.folder)  # a clear error naming the file when it is missing
    mesh = mano_hand_mesh(bodies.smplx, correspondence)
    return mesh, register_hamer_hands(bodies.smplx, motion, hands, correspondence)


class RealisDanceRenderPose(io.ComfyNode):
    """Render RealisDance-DiT's two pose conditions: the SMPL-CS video and the hand video."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceRenderPose",
            display_name="RealisDance Render SMPL-CS + Hands",
            category=CATEGORY,
            description=(
                "Renders the SMPL-X motion as RealisDance-DiT's pose conditions: the SMPL-CS video (the body with "
                "its fixed colour table, headlight shading, on black) and the hand video (right hand pink, left "
                "green, hidden behind the body), at the motion's image size."
            ),
            inputs=[
                BodyModelType.Input("body_model", tooltip="From RealisDance Body Model Loader."),
                SMPLXSequenceType.Input("motion", tooltip="An SMPL-X motion, e.g. from RealisDance Load GVHMR Motion."),
                io.Combo.Input(
                    "backend",
                    options=BACKENDS,
                    default="auto",
                    tooltip=(
                        "auto: OpenGL (moderngl, headless EGL) when a context can be made, else torch. gl: "
                        "OpenGL or an error. torch: the pure PyTorch rasterizer (slower on CPU, no dependencies). "
                        "All give the same image up to edge pixels."
                    ),
                ),
                io.Boolean.Input(
                    "occlude_hands",
                    default=True,
                    tooltip="Hide hand pixels where the body is in front of the hand, as the reference render does.",
                ),
                HamerHandsType.Input(
                    "hamer_hands",
                    optional=True,
                    tooltip=(
                        "Optional HaMeR hands (RealisDance Load HaMeR Hands) for the same frames: each hand is fitted "
                        "onto the SMPL-X hand and drawn instead of it (HaMeR's fingers). Needs "
                        "MANO_SMPLX_vertex_ids.pkl in the body-model folder."
                    ),
                ),
            ],
            outputs=[
                io.Image.Output(display_name="smpl_cs", tooltip="SMPL-CS video (frames, height, width, 3)."),
                io.Image.Output(display_name="hands", tooltip="Hand video (frames, height, width, 3)."),
            ],
        )

    @classmethod
    def execute(
        cls,
        body_model: BodyModels,
        motion: SMPLXSequence,
        backend: str = "auto",
        occlude_hands: bool = True,
        hamer_hands: HandDetections | None = None,
    ) -> io.NodeOutput:
        colours = body_model.require_colours()
        hand_mesh, hand_vertices = None, None
        if hamer_hands is not None:
            hand_mesh, hand_vertices = registered_hands(body_model, motion, hamer_hands)
        raster = get_backend(backend)
        # The torch rasterizer is fastest on ComfyUI's GPU; GL draws on its own device and reads back to the CPU.
        device = host.compute_device() if isinstance(raster, TorchRasterizer) else torch.device("cpu")
        options = RenderOptions(backend=raster, occlude_hands=occlude_hands, device=device)
        hands = None if hand_mesh is None else HandGeometry(hand_mesh, hand_vertices)
        progress = host.progress_reporter(motion.num_frames)
        videos = render_pose_conditions(body_model.smplx, motion, colours, options, hands, progress)
        return io.NodeOutput(videos.smpl_cs, videos.hands)


NODES: list[type[io.ComfyNode]] = [RealisDanceBodyModelLoader, RealisDanceLoadGVHMR, RealisDanceRenderPose]
