"""Reference image + pose IMAGE batches + text -> the condition bundle of both CFG branches."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from realisdance.arguments import MAX_AREA, MIN_AREA
from realisdance.encoders import VideoVAE
from realisdance.encoders.chunk_hooks import condition_encode_chunks, on_every_chunk
from realisdance.errors import InputError
from realisdance.memory.vae_stage import encode_room_needed, encode_tiling
from realisdance.memory.weights import module_bytes
from realisdance.pipeline.api import job_size
from realisdance.pipeline.conditions import ModelSignature, build_conditions
from realisdance.pipeline.preprocess import (
    DEFAULT_MAX_AREA,
    DEFAULT_NUM_FRAMES,
    MAX_FRAMES,
    TARGET_FPS,
    TEMPORAL_STRIDE,
    load_pose_video,
    prepare_inputs,
)
from realisdance.pipeline.windows import DEFAULT_WINDOW_FRAMES

from . import host, interop
from .deprecation import deprecated
from .host import io


def _check_dwpose(smpl, dwpose) -> None:
    if tuple(dwpose.shape[:3]) != tuple(smpl.shape[:3]):
        raise InputError(
            f"the DWPose batch is {tuple(dwpose.shape[:3])} (frames, height, width) but the SMPL-CS batch is "
            f"{tuple(smpl.shape[:3])}; render all pose videos from the same clip at the same size."
        )


def summary(conditions, streams: int, text_source: str, tiling=None) -> str:
    latent_frames = conditions.latent_shape[2]
    line = (
        f"{conditions.width}x{conditions.height}, {conditions.num_frames} frames ({latent_frames} latent), "
        f"{streams} pose streams, text from {text_source}"
    )
    return line if tiling is None else f"{line}, VAE encode in {tiling.tile} px tiles"


def encode_plan(vae, clip, prepared):
    """Tiles for the video encodes when the untiled ones would not fit the device's free memory (after the host
    unloaded its own models as far as needed); None otherwise, or for ComfyUI's own VAE (it manages itself)."""
    if not isinstance(vae, VideoVAE):
        return None
    weights = module_bytes(vae.module) + module_bytes(getattr(clip, "module", None))
    job = job_size(prepared)
    host.make_room(encode_room_needed(weights, job, vae.dtype))
    return encode_tiling(host.free_device_bytes(), weights, job, vae.dtype)


@contextmanager
def chunk_progress(core_vae, total: int):
    """A progress bar that ticks on every VAE chunk (see ``realisdance.encoders.chunk_hooks``) and honours Cancel
    before each one; tiled runs take ``total`` chunks per tile, so the total grows as they run."""
    report = host.progress_reporter(total)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        report(done, max(done, total))

    with on_every_chunk(interop.chunk_module(core_vae), tick):
        yield


def encode_progress(core_vae, prepared, streams: int):
    """The node's progress bar over the VAE encodes (one tick per VAE chunk) and Cancel within one chunk."""
    return chunk_progress(core_vae, condition_encode_chunks(prepared.num_frames, streams))


def pose_video_inputs() -> list:
    """The inputs that size the job from the pose video, shared by RealisDance To Video and RealisDance Conditions."""
    return [
        io.Image.Input(
            "dwpose",
            optional=True,
            tooltip="Third pose stream (DWPose renders), only for 48-channel pose models.",
        ),
        io.Int.Input(
            "num_frames",
            default=DEFAULT_NUM_FRAMES,
            min=5,
            max=MAX_FRAMES,
            step=TEMPORAL_STRIDE,
            tooltip="Frames to generate, 4k+1 (81 = about 5 s at 16 fps, the release's default).",
        ),
        io.Int.Input(
            "max_area",
            default=DEFAULT_MAX_AREA,
            min=MIN_AREA,
            max=MAX_AREA,
            step=256,
            tooltip="Target pixel count; the size keeps the pose video's aspect (768*768 -> 576x1024 "
            "for 16:9), in multiples of 16.",
        ),
        io.Float.Input(
            "pose_fps",
            default=float(TARGET_FPS),
            min=0.01,
            max=1000.0,
            step=0.01,
            tooltip="Frame rate of the pose frames (connect GetVideoComponents' fps); they are resampled "
            "to 16 fps as the release does.",
        ),
    ]


def size_outputs() -> list:
    """The resolved job size, after the bundle: shared by RealisDance To Video and RealisDance Conditions."""
    return [
        io.Int.Output(display_name="width", tooltip="Width of the video that will be generated."),
        io.Int.Output(display_name="height", tooltip="Height of the video that will be generated."),
        io.Int.Output(display_name="num_frames", tooltip="Frames of the video that will be generated."),
    ]


@dataclass(frozen=True)
class PoseJob:
    """The images and the release's preprocessing settings of one job (what ``pose_video_inputs`` ask for)."""

    reference: object
    smpl: object
    hamer: object
    dwpose: object = None
    num_frames: int = DEFAULT_NUM_FRAMES
    max_area: int = DEFAULT_MAX_AREA
    pose_fps: float = float(TARGET_FPS)


def encode_job(job: PoseJob, signature: ModelSignature, text, negative_text, vae, image_encoder):
    """The release's preprocessing and encodes for both CFG branches, with the node's progress bar and Cancel:
    (condition bundle on the CPU, the VAE tiling used or None)."""
    core_vae = interop.video_vae(vae)
    clip = interop.image_encoder(image_encoder)
    if job.dwpose is not None:
        _check_dwpose(job.smpl, job.dwpose)
    prepared = prepare_inputs(
        job.reference, job.smpl, job.hamer, num_frames=job.num_frames, max_area=job.max_area, pose_fps=job.pose_fps,
        stream_poses=job.num_frames > DEFAULT_WINDOW_FRAMES,  # a long clip: resized and encoded a chunk at a time
    )  # fmt: skip
    dwpose_video = None
    if job.dwpose is not None:
        size = (prepared.height, prepared.width)
        dwpose_video = load_pose_video(job.dwpose, job.num_frames, size=size, fps=job.pose_fps)
    host.throw_if_interrupted()
    tiling = encode_plan(core_vae, clip, prepared)
    with host.on_compute_device(core_vae, clip), encode_progress(core_vae, prepared, signature.pose_streams):
        conditions = build_conditions(
            prepared, core_vae, signature, text, negative_text, clip, dwpose_video, tiling=tiling
        )
    return conditions.to("cpu"), tiling  # held between nodes; the sampler moves it to its device


class RealisDanceConditions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceConditions",
            display_name="RealisDance Conditions",
            category="RealisDance",
            description=(
                "Applies the release's preprocessing (16 fps resampling, size from the pose video at about max_area "
                "pixels, resize-crop) and encodes pose, reference and text for both CFG branches."
            ),
            inputs=[
                io.MultiType.Input(
                    "model",
                    types=host.REALISDANCE_MODEL_TYPES,
                    tooltip="The RealisDance-DiT MODEL these conditions are built for.",
                ),
                io.MultiType.Input(
                    "positive",
                    types=host.TEXT_TYPES,
                    tooltip="Prompt embeddings: RealisDance Text Encode, or CLIP Text Encode with the Wan umT5.",
                ),
                io.MultiType.Input(
                    "negative",
                    types=host.TEXT_TYPES,
                    tooltip="Negative prompt embeddings (the release uses an empty prompt).",
                ),
                io.MultiType.Input(
                    "vae",
                    types=host.VAE_TYPES,
                    tooltip="The Wan 2.1 VAE: RealisDance VAE Loader or ComfyUI's Load VAE.",
                ),
                io.Image.Input("reference", tooltip="The character to animate: one image, any size and aspect."),
                io.Image.Input("smpl", tooltip="SMPL-CS body render frames (an IMAGE batch)."),
                io.Image.Input("hamer", tooltip="Hand render frames, same size and frame count as smpl."),
                io.MultiType.Input(
                    "image_encoder",
                    types=host.IMAGE_ENCODER_TYPES,
                    optional=True,
                    tooltip=(
                        "CLIP vision encoder (needed by I2V models): RealisDance CLIP Vision Loader or ComfyUI's "
                        "Load CLIP Vision. The encoder, not an encoded output: the release squashes the whole "
                        "reference to 224 px (no crop) and also encodes a grey image for the negative branch."
                    ),
                ),
                *pose_video_inputs(),
            ],
            outputs=[
                host.RealisDanceConditions.Output(display_name="conditions", tooltip="For RealisDance Sampler."),
                *size_outputs(),
            ],
        )
        return deprecated(schema)

    @classmethod
    def execute(
        cls,
        model,
        positive,
        negative,
        vae,
        reference,
        smpl,
        hamer,
        image_encoder=None,
        dwpose=None,
        num_frames: int = DEFAULT_NUM_FRAMES,
        max_area: int = DEFAULT_MAX_AREA,
        pose_fps: float = float(TARGET_FPS),
    ) -> io.NodeOutput:
        from .native.signature import signature_of

        signature = signature_of(model)
        text = interop.text_embeddings(positive, "positive")
        negative_text = interop.text_embeddings(negative, "negative")
        job = PoseJob(reference, smpl, hamer, dwpose, num_frames, max_area, pose_fps)
        conditions, tiling = encode_job(job, signature, text, negative_text, vae, image_encoder)
        source = "CONDITIONING" if isinstance(positive, list) else "umT5"
        line = summary(conditions, signature.pose_streams, source, tiling)
        return io.NodeOutput(
            conditions,
            conditions.width,
            conditions.height,
            conditions.num_frames,
            ui={"realisdance_summary": [line]},
        )


NODES: list[type[io.ComfyNode]] = [RealisDanceConditions]
