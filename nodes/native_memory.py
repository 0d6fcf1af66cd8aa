"""Memory advice for the native path: the planner tells, ComfyUI's memory manager moves.

Inside ComfyUI the host loads, partially loads and offloads the MODEL itself (Dynamic VRAM, lowvram), so the
planner does not place anything here. It answers the questions a user has before a long run: does this job fit
the free device memory with every block resident, how many blocks would stay in host RAM, and whether fp8 weights
would make it fit. The sampler shows the answer, and the measured peak, in its summary line.
"""

from __future__ import annotations

import torch

from realisdance.errors import InputError
from realisdance.memory.planner import MemoryOptions, ModelFacts, plan_memory
from realisdance.memory.sizes import GIB, VAE_SPATIAL, JobSize
from realisdance.model.configs import named_config

STORAGE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def native_config(diffusion_model) -> dict:
    """The diffusers-style config of a native ``RealisDanceWanModel`` (what the planner's estimates read)."""
    heads = diffusion_model.num_heads
    return named_config(
        "14B-I2V",
        num_attention_heads=heads,
        attention_head_dim=diffusion_model.dim // heads,
        in_channels=diffusion_model.in_dim,
        ffn_dim=diffusion_model.ffn_dim,
        num_layers=diffusion_model.num_layers,
        text_dim=diffusion_model.text_dim,
        freq_dim=diffusion_model.freq_dim,
        image_dim=1280 if diffusion_model.img_emb is not None else None,
        added_kv_proj_dim=diffusion_model.dim if diffusion_model.img_emb is not None else None,
        add_cond_in_dim=diffusion_model.add_conv_in.in_channels,
        attn_cond_in_dim=diffusion_model.attn_conv_in.in_channels,
    )


def storage_name(diffusion_model) -> str:
    dtype = diffusion_model.blocks[0].ffn[0].weight.dtype
    if dtype in STORAGE_NAMES:
        return STORAGE_NAMES[dtype]
    return "fp8_e4m3fn" if dtype == torch.float8_e4m3fn else "fp8_e5m2"


def job_of(latent: torch.Tensor, reference: torch.Tensor | None, guidance: float, window: int | None = None) -> JobSize:
    """The job a LATENT (B, 16, T, h, w) and a reference latent (B, 16, 1, h_r, w_r) describe; ``window``: the
    latent frames of the host's context windows, when the MODEL has them (each forward then holds one window)."""
    frames = (latent.shape[2] - 1) * 4 + 1
    height, width = latent.shape[-2] * VAE_SPATIAL, latent.shape[-1] * VAE_SPATIAL
    ref = reference.shape[-2:] if reference is not None else (latent.shape[-2], latent.shape[-1])
    job = JobSize(frames, height, width, ref[0] * VAE_SPATIAL, ref[1] * VAE_SPATIAL, guidance)
    if window is not None and window < latent.shape[2]:
        job = JobSize((window - 1) * 4 + 1, height, width, job.reference_height, job.reference_width, guidance, frames)
    return job


def context_window_length(model_options: dict) -> int | None:
    """Latent frames per window of the host's context windows on a MODEL (its Context Windows nodes), or None."""
    handler = model_options.get("context_handler")
    length = getattr(handler, "context_length", None)
    return int(length) if isinstance(length, int) and length > 0 else None


def advice(diffusion_model, job: JobSize, free_bytes: int | None) -> str:
    """One line: whether the job fits resident, else how the host will have to split it and whether fp8 helps."""
    if free_bytes is None:
        return "CPU: no device memory limit"
    facts = ModelFacts(native_config(diffusion_model), storage_name(diffusion_model))
    free = f"{free_bytes / GIB:.1f} GiB free"
    try:
        plan = plan_memory(facts, job, MemoryOptions(mode="resident"), free_bytes)
        return f"fits resident in {plan.dtype} ({plan.peak_bytes / GIB:.1f} GiB of {free})"
    except InputError:
        pass
    try:
        plan = plan_memory(facts, job, MemoryOptions(mode="stream"), free_bytes)
    except InputError:
        return f"does not fit {free} even with blocks in RAM: fewer frames, a smaller size or fp8 weights"
    kept = plan.num_blocks - len(plan.streamed_blocks)
    line = f"{free}: ComfyUI keeps about {kept}/{plan.num_blocks} blocks on the device, the rest offloaded"
    if not facts.dtype.startswith("fp8"):
        try:
            fp8 = plan_memory(facts, job, MemoryOptions(mode="fp8"), free_bytes)
            line += f"; fp8 weights would keep {fp8.num_blocks - len(fp8.streamed_blocks)}/{fp8.num_blocks}"
        except InputError:
            pass
    return line
