"""Motion from a plain driving video: fit SMPL-X to the video's DWPose keypoints, with a QC preview (thin V3 schema
around realisdance.pose.fitting.motion)."""

from __future__ import annotations

import torch

from realisdance.errors import InputError
from realisdance.pose import SMPLXSequence
from realisdance.pose.fitting.motion import MotionFitResult, fit_motion
from realisdance.pose.fitting.motion_options import MotionFitOptions
from realisdance.pose.fitting.motion_preview import motion_preview
from realisdance.pose.keypoints import clip_keypoints

from . import host
from .host import io
from .pose import BodyModels
from .pose_shape import autograd_copy
from .pose_types import CATEGORY, BodyModelType, PoseKeypointType, SMPLXSequenceType

DEFAULTS = MotionFitOptions()


def motion_summary(result: MotionFitResult) -> str:
    counts = result.flag_counts()
    flags = "; ".join(f"{name}: {count} frame(s)" for name, count in counts.items()) or "every frame fitted"
    errors = [report.error_px if report.error_px == report.error_px else float("-inf") for report in result.frames]
    worst = max(range(len(errors)), key=errors.__getitem__)  # NaN (no person) never counts as the worst
    return (
        f"{len(result.frames)} frames, mean keypoint error {result.mean_error_px:.1f} px (worst: frame {worst}, "
        f"{result.frames[worst].error_px:.1f} px); {flags}"
    )


class RealisDanceFitMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceFitMotion",
            display_name="RealisDance Fit Motion (from keypoints)",
            category=CATEGORY,
            description=(
                "Fits an SMPL-X motion (body, hands, placement; one body shape) to the whole-body keypoints of every "
                "frame of a driving video, all frames at once, so the pose conditions can be rendered from a plain "
                "video without GVHMR or HaMeR. Frames without a person and undetected hands are bridged from their "
                "neighbours. The preview shows the fitted body over the video with each frame's error and flags."
            ),
            inputs=[
                BodyModelType.Input("body_model", tooltip="From RealisDance Body Model Loader."),
                PoseKeypointType.Input(
                    "keypoints", tooltip="POSE_KEYPOINT of the driving video, one entry per frame (RealisDance DWPose)."
                ),
                io.Int.Input(
                    "iterations",
                    default=DEFAULTS.iterations,
                    min=1,
                    max=5000,
                    tooltip="Optimisation steps after the placement stage; more is slower and rarely better.",
                ),
                io.Float.Input(
                    "fov_degrees",
                    default=0.0,
                    min=0.0,
                    max=170.0,
                    step=0.5,
                    tooltip="The camera's diagonal field of view; 0 = GVHMR's default (53 degrees). Ignored when "
                    "initial_motion gives a camera.",
                ),
                io.Float.Input(
                    "fps",
                    default=16.0,
                    min=1.0,
                    max=240.0,
                    tooltip="The driving video's frame rate (kept with the motion).",
                ),
                io.Image.Input(
                    "frames", optional=True, tooltip="The driving video's frames, drawn under the QC preview."
                ),
                SMPLXSequenceType.Input(
                    "initial_motion",
                    optional=True,
                    tooltip="Optional GVHMR motion of the same video: its motion and camera are the starting point "
                    "and the fit refines them and adds the hands.",
                ),
            ],
            outputs=[
                SMPLXSequenceType.Output(display_name="motion", tooltip="The fitted motion, for Transfer Shape."),
                io.Image.Output(display_name="preview", tooltip="QC: fitted body and keypoints over the video."),
            ],
        )

    @classmethod
    def execute(
        cls,
        body_model: BodyModels,
        keypoints,
        iterations: int = DEFAULTS.iterations,
        fov_degrees: float = 0.0,
        fps: float = 16.0,
        frames: torch.Tensor | None = None,
        initial_motion: SMPLXSequence | None = None,
    ) -> io.NodeOutput:
        people = clip_keypoints(keypoints)
        if frames is not None and frames.shape[0] != len(people):
            raise InputError(
                f"The preview frames ({frames.shape[0]}) and the keypoints ({len(people)} frames) are of different "
                "videos; connect the frames the keypoints were estimated from."
            )
        options = MotionFitOptions(iterations=iterations, fov_degrees=fov_degrees or None)
        total = options.placement_iterations + options.iterations
        with torch.inference_mode(False), torch.enable_grad():  # the fit is a gradient descent
            result = fit_motion(
                autograd_copy(body_model.smplx),
                [autograd_copy(p) for p in people],
                options,
                initial=autograd_copy(initial_motion),
                fps=fps,
                progress=host.progress_reporter(total),
            )
        if not bool(torch.isfinite(result.sequence.params.body_pose).all()):
            raise InputError("The motion fit diverged (non-finite poses); check the keypoints.")
        preview = motion_preview(body_model.smplx, result, people, frames)
        # The QC preview shows in the node itself (as Preview Image would) and is an output for saving.
        shown = host.ui.PreviewImage(preview, cls=cls).as_dict()
        return io.NodeOutput(result.sequence, preview, ui={**shown, "realisdance_summary": [motion_summary(result)]})


NODES: list[type[io.ComfyNode]] = [RealisDanceFitMotion]
