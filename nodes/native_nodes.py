"""The native path: RealisDance-DiT as a ComfyUI MODEL, conditioning for the stock samplers, the release preset.

    RealisDance-DiT Loader (MODEL) -----------------------------------------------+
    text (CONDITIONING or RealisDance Text Encode) + VAE + CLIP vision + images   |
        -> RealisDance To Video (positive, negative, LATENT) -> KSampler / RealisDance Sampler (release preset)
        -> VAE Decode

The model classes live in ``nodes/native`` (they subclass the host's) and are imported inside ``execute``, so the
schemas load everywhere, the test double included.
"""

from __future__ import annotations

import time

import torch

from realisdance.encoders.vae import denormalize_latents
from realisdance.errors import InputError
from realisdance.pipeline.conditions import ModelSignature
from realisdance.pipeline.preprocess import (
    DEFAULT_MAX_AREA,
    DEFAULT_NUM_FRAMES,
    TARGET_FPS,
)

from . import host, interop, native_memory
from .conditions import PoseJob, encode_job, pose_video_inputs, size_outputs
from .host import io

LATENT_CHANNELS = 16
I2V_MASK_CHANNELS = 4
# The native Wan I2V DiT's CLIP projection takes 1280 channels (CLIP ViT-H/14), as the release's does.
CLIP_CHANNELS = 1280
WEIGHT_DTYPE_CHOICES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2", "bf16", "fp16", "fp32"]


class RealisDanceLoadModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceLoadModel",
            display_name="RealisDance-DiT Loader (MODEL)",
            category="RealisDance",
            **host.optional_schema_fields(
                search_aliases=["Load Diffusion Model RealisDance", "RealisDance UNET loader", "Wan animate model"]
            ),
            description=(
                "Loads RealisDance-DiT as a native ComfyUI MODEL (ComfyUI's own Wan 2.1 DiT plus the pose and "
                "reference modules): the stock KSampler, LoRA loaders, shift nodes, torch.compile and the host's "
                "memory manager handle it. Accepts the official diffusers release folder and single files in "
                "diffusers, original-Wan or ComfyUI naming (bf16, fp16, fp8, scaled fp8)."
            ),
            inputs=[
                io.Combo.Input(
                    "model",
                    options=host.model_choices(),
                    tooltip="A .safetensors file from models/diffusion_models/, or a release folder (ending in '/') "
                    "from models/realisdance/.",
                ),
                io.Combo.Input(
                    "weight_dtype",
                    options=WEIGHT_DTYPE_CHOICES,
                    default="default",
                    tooltip="As in Load Diffusion Model: default lets ComfyUI choose for your GPU; fp8 halves the "
                    "memory of bf16 (fp8_e4m3fn_fast also computes in fp8 on GPUs that can).",
                ),
            ],
            outputs=[
                io.Model.Output(display_name="MODEL", tooltip="RealisDance-DiT for KSampler and model-patch nodes.")
            ],
        )

    @classmethod
    def execute(cls, model: str, weight_dtype: str = "default") -> io.NodeOutput:
        from .native.loading import load_native_model

        return io.NodeOutput(load_native_model(host.resolve_model_path(model), weight_dtype))


def _text(value, what: str) -> tuple[torch.Tensor, dict]:
    """(1, 512, D) embeddings and the options dict of a CONDITIONING entry (empty for our text embeds)."""
    embeddings = interop.text_embeddings(value, what)
    options = dict(value[0][1]) if isinstance(value, list) else {}
    return embeddings, options


def _raw(latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents (16 channels per stream) -> the raw VAE latents the host's conditioning carries."""
    return torch.cat([denormalize_latents(part) for part in latents.split(LATENT_CHANNELS, dim=1)], dim=1)


def native_conditioning(conditions, positive_options: dict, negative_options: dict, strengths: dict) -> tuple:
    """The condition bundle as two host CONDITIONING lists (raw latents; the model normalises them)."""
    shared = {
        "concat_latent_image": _raw(conditions.image_condition[:, I2V_MASK_CHANNELS:]),
        "realisdance_pose": _raw(conditions.pose),
        **strengths,
    }
    positive = [
        [
            conditions.positive.text,
            {
                **positive_options,
                **shared,
                "clip_vision_output": host.clip_vision_output(conditions.positive.clip),
                "realisdance_reference": _raw(conditions.positive.reference),
            },
        ]
    ]
    negative = [
        [
            conditions.negative.text,
            {
                **negative_options,
                **shared,
                "clip_vision_output": host.clip_vision_output(conditions.negative.clip),
                "realisdance_reference": _raw(conditions.negative.reference),
            },
        ]
    ]
    return positive, negative


class RealisDanceToVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceToVideo",
            display_name="RealisDance To Video",
            category="RealisDance",
            **host.optional_schema_fields(
                search_aliases=["RealisDance conditioning", "pose to video", "character animation", "dance"]
            ),
            description=(
                "Builds RealisDance-DiT's conditions exactly as the release does (16 fps resampling, size from the "
                "pose video at about max_area pixels, grey I2V condition, CLIP of the uncropped reference) and puts "
                "them into native CONDITIONING for KSampler: the reference and pose in positive; a grey reference, "
                "CLIP of a grey image and the same pose in negative, the release's unconditional branch."
            ),
            inputs=[
                io.MultiType.Input("positive", types=host.TEXT_TYPES, tooltip="Prompt: CLIP Text Encode (umT5)."),
                io.MultiType.Input(
                    "negative", types=host.TEXT_TYPES, tooltip="Negative prompt (the release uses an empty one)."
                ),
                io.MultiType.Input("vae", types=host.VAE_TYPES, tooltip="The Wan 2.1 VAE."),
                io.MultiType.Input(
                    "clip_vision",
                    types=host.IMAGE_ENCODER_TYPES,
                    tooltip="CLIP vision (ViT-H/14). The model, not an encoded output: the release encodes the "
                    "whole reference squashed to 224 px and a grey image for the negative branch.",
                ),
                io.Image.Input("reference", tooltip="The character to animate: one image, any size and aspect."),
                io.Image.Input("smpl", tooltip="SMPL-CS body render frames."),
                io.Image.Input("hamer", tooltip="Hand render frames, same size and count as smpl."),
                *pose_video_inputs(),
                io.Float.Input(
                    "pose_strength",
                    default=1.0,
                    min=0.0,
                    max=10.0,
                    step=0.01,
                    tooltip="Scales the pose tokens added to the video tokens (1.0 = the release).",
                ),
                io.Float.Input(
                    "pose_start_percent",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.001,
                    tooltip="Sampling progress at which the pose starts to apply (0 = the release).",
                ),
                io.Float.Input(
                    "pose_end_percent",
                    default=1.0,
                    min=0.0,
                    max=1.0,
                    step=0.001,
                    tooltip="Sampling progress after which the pose stops applying (1 = the release).",
                ),
                io.Float.Input(
                    "reference_strength",
                    default=1.0,
                    min=0.0,
                    max=10.0,
                    step=0.01,
                    tooltip="Scales the reference tokens (1.0 = the release; 0 leaves them out).",
                ),
            ],
            outputs=[
                io.Conditioning.Output(
                    display_name="positive", tooltip="Prompt, reference, pose: the sampler's positive."
                ),
                io.Conditioning.Output(
                    display_name="negative", tooltip="The release's unconditional branch: the sampler's negative."
                ),
                io.Latent.Output(display_name="latent", tooltip="An empty video latent of the resolved size."),
                *size_outputs(),
            ],
        )

    @classmethod
    def execute(
        cls,
        positive,
        negative,
        vae,
        clip_vision,
        reference,
        smpl,
        hamer,
        dwpose=None,
        num_frames: int = DEFAULT_NUM_FRAMES,
        max_area: int = DEFAULT_MAX_AREA,
        pose_fps: float = float(TARGET_FPS),
        pose_strength: float = 1.0,
        pose_start_percent: float = 0.0,
        pose_end_percent: float = 1.0,
        reference_strength: float = 1.0,
    ) -> io.NodeOutput:
        if pose_start_percent > pose_end_percent:
            raise InputError(
                f"pose_start_percent ({pose_start_percent}) is after pose_end_percent ({pose_end_percent}); the pose "
                "would never apply. Set start <= end (0 and 1 reproduce the release)."
            )
        text, positive_options = _text(positive, "positive")
        negative_text, negative_options = _text(negative, "negative")
        streams = 3 if dwpose is not None else 2
        signature = ModelSignature(36, LATENT_CHANNELS * streams, LATENT_CHANNELS, text.shape[-1], CLIP_CHANNELS)
        job = PoseJob(reference, smpl, hamer, dwpose, num_frames, max_area, pose_fps)
        conditions, _ = encode_job(job, signature, text, negative_text, vae, clip_vision)
        strengths = {
            "realisdance_pose_strength": float(pose_strength),
            "realisdance_pose_percent": (float(pose_start_percent), float(pose_end_percent)),
            "realisdance_reference_strength": float(reference_strength),
        }
        positive_out, negative_out = native_conditioning(conditions, positive_options, negative_options, strengths)
        latent = {"samples": torch.zeros(conditions.latent_shape)}
        line = (
            f"{conditions.width}x{conditions.height}, {conditions.num_frames} frames "
            f"({conditions.latent_shape[2]} latent), {streams} pose streams"
        )
        return io.NodeOutput(
            positive_out,
            negative_out,
            latent,
            conditions.width,
            conditions.height,
            conditions.num_frames,
            ui={"realisdance_summary": [line]},
        )


class RealisDanceReleaseSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceReleaseSampler",
            display_name="RealisDance Sampler (release preset)",
            category="RealisDance",
            **host.optional_schema_fields(search_aliases=["RealisDance KSampler", "release sampler"]),
            description=(
                "ComfyUI's sampling with the release's solver: flow-UniPC on the release's sigma grid with the "
                "model's shift (the release folder's, or a shift node's), integer timesteps and unit start noise; "
                "40 steps, CFG 2 and seed 1024 by default. Gives the official pipeline's latent for the same "
                "inputs. Any MODEL patch (LoRA, shift, compile) applies as with KSampler."
            ),
            inputs=[
                io.Model.Input("model", tooltip="RealisDance-DiT (MODEL), with any patches (LoRA, shift, ...)."),
                io.Conditioning.Input("positive", tooltip="positive of RealisDance To Video."),
                io.Conditioning.Input("negative", tooltip="negative of RealisDance To Video."),
                io.Latent.Input("latent", tooltip="From RealisDance To Video (or a start latent with denoise < 1)."),
                io.Int.Input(
                    "seed",
                    default=1024,
                    min=0,
                    max=2**63 - 1,
                    control_after_generate=True,
                    tooltip="Noise seed (1024 in the release).",
                ),
                io.Int.Input("steps", default=40, min=1, max=1000, tooltip="Solver steps (40 in the release)."),
                io.Float.Input(
                    "cfg", default=2.0, min=0.0, max=100.0, step=0.1, round=0.01, tooltip="Guidance (2 in the release)."
                ),
                io.Float.Input(
                    "denoise",
                    default=1.0,
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    tooltip="Below 1: start part-way down a longer schedule from the given latent.",
                ),
            ],
            outputs=[io.Latent.Output(display_name="LATENT", tooltip="Wan 2.1 video latent for VAE Decode.")],
        )

    @classmethod
    def execute(cls, model, positive, negative, latent, seed=1024, steps=40, cfg=2.0, denoise=1.0) -> io.NodeOutput:
        from .native.model_base import is_realisdance
        from .native.release_sampler import sample_release
        from .native.step_cache import teacache_of

        if not is_realisdance(model):
            raise InputError(
                "the release preset samples RealisDance-DiT only; load the model with 'RealisDance-DiT Loader "
                "(MODEL)' (other models: use KSampler)."
            )
        diffusion_model = model.get_model_object("diffusion_model")
        reference = positive[0][1].get("realisdance_reference") if positive else None
        window = native_memory.context_window_length(model.model_options)
        job = native_memory.job_of(latent["samples"], reference, cfg, window)
        advice = native_memory.advice(diffusion_model, job, host.free_device_bytes())
        started = time.perf_counter()
        with host.peak_device_memory() as peak:
            out = sample_release(model, positive, negative, latent, seed, steps, cfg, denoise)
        line = f"{steps} steps, CFG {cfg:g}, {time.perf_counter() - started:.1f} s; memory: {advice}"
        teacache = teacache_of(model.model_options.get("transformer_options", {}))
        if teacache is not None:
            teacache.finish()
            line += f"; {teacache.last_report}"
        if peak.bytes is not None:
            line += f"; measured peak {peak.bytes / 2**30:.1f} GiB"
        return io.NodeOutput(out, ui={"realisdance_summary": [line]})


NODES: list[type[io.ComfyNode]] = [RealisDanceLoadModel, RealisDanceToVideo, RealisDanceReleaseSampler]
