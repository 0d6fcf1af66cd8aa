"""Shape-aligned rendering nodes: fit the reference character's body shape, give it to the driving motion, smooth
the motion (thin V3 schemas around realisdance.pose.fitting / shape_transfer / smoothing)."""

from __future__ import annotations

import dataclasses

import torch

from realisdance.errors import InputError
from realisdance.pose import (
    RenderOptions,
    ShapeFitOptions,
    ShapeFitResult,
    SmoothingOptions,
    SMPLXSequence,
    fit_reference_shape,
    person_keypoints,
    render_smpl_cs,
    smooth_sequence,
    transfer_shape,
)

from . import host
from .host import io
from .pose import BodyModels
from .pose_types import CATEGORY, BodyModelType, BodyShapeType, PoseKeypointType, SMPLXSequenceType

ASPECT_TOLERANCE = 0.01  # keypoints of a resized copy of the reference image are scaled; another framing is refused
PREVIEW_OPACITY = 0.6  # how strongly the fitted body covers the reference image in the preview
PREVIEW_GREY = 0.7  # body colour of the preview when the SMPL-CS colour table is not installed
DEFAULT_CUT_ROTATION_DEG = SmoothingOptions().cut_rotation_deg
DEFAULT_CUT_TRANSLATION = SmoothingOptions().cut_translation


def reference_frame(image: torch.Tensor) -> torch.Tensor:
    """The one (H, W, 3) reference image of an IMAGE batch."""
    if image.dim() != 4 or image.shape[-1] != 3:
        raise InputError(f"The reference must be an RGB IMAGE (1, height, width, 3), got shape {tuple(image.shape)}.")
    if image.shape[0] != 1:
        raise InputError(f"Give one reference image, not a batch of {image.shape[0]}; pick one first.")
    return image[0]


def keypoints_for_image(pose_keypoint, person: int, width: int, height: int):
    """The chosen person's keypoints in pixels of the width x height reference image."""
    points = person_keypoints(pose_keypoint, frame=0, person=None if person < 0 else person)
    if (points.width, points.height) == (width, height):
        return points
    if abs((points.width / points.height) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise InputError(
            f"The keypoints belong to a {points.width}x{points.height} image but the reference image is "
            f"{width}x{height}; run the pose estimator on this reference image."
        )
    return points.scaled(width, height)


def fit_preview(bodies: BodyModels, fit: ShapeFitResult, image: torch.Tensor) -> torch.Tensor:
    """The fitted body drawn over the reference image (1, H, W, 3), to check the fit by eye."""
    height, width = image.shape[:2]
    sequence = SMPLXSequence(fit.params, fit.intrinsics[None], fit.width, fit.height).resized(width, height)
    colours = bodies.colours
    if colours is None:
        colours = torch.full((bodies.smplx.num_vertices, 3), PREVIEW_GREY)
    body = render_smpl_cs(bodies.smplx, sequence, colours, RenderOptions(backend="torch"))[0]
    covered = (body.amax(-1, keepdim=True) > 0).float() * PREVIEW_OPACITY
    return (image.cpu().float() * (1 - covered) + body * covered)[None]


def autograd_copy(value):
    """``value`` with every tensor (also inside dataclasses) cloned as a normal tensor.

    ComfyUI runs nodes under ``torch.inference_mode()``, so the body model and the inputs were created as inference
    tensors, which autograd refuses to save for backward; the fit needs autograd. Call inside
    ``torch.inference_mode(False)``."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [field.name for field in dataclasses.fields(value) if field.init]
        return dataclasses.replace(value, **{name: autograd_copy(getattr(value, name)) for name in fields})
    return value


def fit_summary(fit: ShapeFitResult) -> str:
    betas = ", ".join(f"{value:+.2f}" for value in fit.betas[:3].tolist())
    inside = "" if fit.inside_fraction is None else f", {fit.inside_fraction:.0%} of the body inside the mask"
    return f"betas [{betas}, ...]; keypoint error {fit.keypoint_error_px:.1f} px{inside}"


class RealisDanceFitShape(io.ComfyNode):
    """Fit the reference character's SMPL-X body shape (betas) to its keypoints and, optionally, its mask."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceFitShape",
            display_name="RealisDance Fit Reference Shape",
            category=CATEGORY,
            description=(
                "Fits the SMPL-X body shape (betas) of the character in the reference image to its 2D keypoints "
                "(e.g. from RealisDance DWPose) and, if given, its silhouette mask. RealisDance Transfer Shape then "
                "renders the driving motion with this body, so limbs and proportions match the reference."
            ),
            inputs=[
                BodyModelType.Input("body_model", tooltip="From RealisDance Body Model Loader."),
                io.Image.Input("image", tooltip="The reference image (one image), the same one the keypoints are of."),
                PoseKeypointType.Input(
                    "keypoints",
                    tooltip=(
                        "POSE_KEYPOINT of the reference image (RealisDance DWPose or another pose estimator); the "
                        "first frame is used."
                    ),
                ),
                io.Int.Input(
                    "iterations",
                    default=ShapeFitOptions().iterations,
                    min=1,
                    max=5000,
                    tooltip="Optimisation steps; more is slower and rarely better than the default.",
                ),
                io.Int.Input(
                    "person",
                    default=-1,
                    min=-1,
                    max=64,
                    tooltip="Which detected person to fit: -1 the largest one (the main subject), else its index.",
                ),
                io.Mask.Input(
                    "mask",
                    optional=True,
                    tooltip=(
                        "Optional silhouette of the character (white = character), the size of the image. Note: "
                        "Load Image's MASK marks the transparent part; invert it for a cut-out."
                    ),
                ),
                SMPLXSequenceType.Input(
                    "initial_motion",
                    optional=True,
                    tooltip=(
                        "Optional starting pose, placement and camera: a GVHMR motion whose frame initial_frame shows "
                        "the reference pose (GVHMR of the reference image, or the driving video when its first frame "
                        "matches the reference). Same aspect ratio as the image. Without it the fit starts from a "
                        "neutral pose."
                    ),
                ),
                io.Int.Input(
                    "initial_frame",
                    default=0,
                    min=0,
                    max=1_000_000,
                    tooltip="Which frame of initial_motion is the reference pose.",
                ),
            ],
            outputs=[
                BodyShapeType.Output(display_name="shape", tooltip="The fitted body shape, for Transfer Shape."),
                io.Image.Output(display_name="preview", tooltip="The fitted body over the reference image."),
            ],
        )

    @classmethod
    def execute(
        cls,
        body_model: BodyModels,
        image: torch.Tensor,
        keypoints,
        iterations: int = 200,
        person: int = -1,
        mask: torch.Tensor | None = None,
        initial_motion: SMPLXSequence | None = None,
        initial_frame: int = 0,
    ) -> io.NodeOutput:
        frame = reference_frame(image)
        height, width = frame.shape[:2]
        points = keypoints_for_image(keypoints, person, width, height)
        with torch.inference_mode(False), torch.enable_grad():  # the fit is a gradient descent (see autograd_copy)
            fit = fit_reference_shape(
                autograd_copy(body_model.smplx),
                autograd_copy(points),
                mask=autograd_copy(mask),
                initial=autograd_copy(initial_motion),
                initial_frame=initial_frame,
                options=ShapeFitOptions(iterations=iterations),
                progress=host.progress_reporter(iterations),
            )
        if not bool(torch.isfinite(fit.betas).all()):
            raise InputError(
                "The shape fit diverged (non-finite betas); check that the keypoints and mask belong to this image."
            )
        preview = fit_preview(body_model, fit, frame)
        return io.NodeOutput(fit, preview, ui={"realisdance_summary": [fit_summary(fit)]})


class RealisDanceTransferShape(io.ComfyNode):
    """Give the driving motion the reference character's body shape, keeping every frame's pelvis in place."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceTransferShape",
            display_name="RealisDance Transfer Shape",
            category=CATEGORY,
            description=(
                "Replaces the body shape of every frame of the driving motion by the fitted reference shape. Joint "
                "rotations stay; the translation is corrected so the pelvis stays where it was."
            ),
            inputs=[
                BodyModelType.Input("body_model", tooltip="From RealisDance Body Model Loader (the fit's model)."),
                SMPLXSequenceType.Input("motion", tooltip="The driving motion (e.g. Load GVHMR Motion)."),
                BodyShapeType.Input("shape", tooltip="From RealisDance Fit Reference Shape."),
            ],
            outputs=[SMPLXSequenceType.Output(display_name="motion", tooltip="The motion with the reference body.")],
        )

    @classmethod
    def execute(cls, body_model: BodyModels, motion: SMPLXSequence, shape: ShapeFitResult) -> io.NodeOutput:
        betas = shape.betas if isinstance(shape, ShapeFitResult) else shape
        return io.NodeOutput(transfer_shape(body_model.smplx, motion, betas))


class RealisDanceSmoothMotion(io.ComfyNode):
    """Temporal smoothing of a driving motion (per-frame estimates jitter)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceSmoothMotion",
            display_name="RealisDance Smooth Motion",
            category=CATEGORY,
            description=(
                "Smooths the SMPL-X motion over time (rotations as quaternions, translation linearly) with a Gaussian "
                "window; the frame count, camera and body shape stay. Hard cuts are smoothed separately."
            ),
            inputs=[
                SMPLXSequenceType.Input("motion", tooltip="An SMPL-X motion."),
                io.Float.Input(
                    "strength",
                    default=SmoothingOptions().strength,
                    min=0.0,
                    max=10.0,
                    step=0.1,
                    tooltip=(
                        "Gaussian sigma in frames: 0 off, 1-2 removes estimator jitter, 3 or more also softens fast "
                        "moves."
                    ),
                ),
                io.Boolean.Input(
                    "smooth_translation",
                    default=True,
                    tooltip="Also smooth the body's position (off: only the joint rotations).",
                ),
                io.Boolean.Input(
                    "split_at_cuts",
                    default=True,
                    tooltip=(
                        f"Treat a root turn over {DEFAULT_CUT_ROTATION_DEG:g} degrees or a jump over "
                        f"{DEFAULT_CUT_TRANSLATION:g} m between two frames as a cut, and never smooth across it."
                    ),
                ),
            ],
            outputs=[SMPLXSequenceType.Output(display_name="motion", tooltip="The smoothed motion.")],
        )

    @classmethod
    def execute(
        cls, motion: SMPLXSequence, strength: float = 1.5, smooth_translation: bool = True, split_at_cuts: bool = True
    ) -> io.NodeOutput:
        options = SmoothingOptions(
            strength=strength,
            smooth_translation=smooth_translation,
            cut_rotation_deg=DEFAULT_CUT_ROTATION_DEG if split_at_cuts else None,
            cut_translation=DEFAULT_CUT_TRANSLATION if split_at_cuts else None,
        )
        return io.NodeOutput(smooth_sequence(motion, options))


NODES: list[type[io.ComfyNode]] = [RealisDanceFitShape, RealisDanceTransferShape, RealisDanceSmoothMotion]
