"""The decode stage of the command line: saved latents -> mp4, and the retry advice when a decode runs out of memory."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .latents_file import LATENTS_SUFFIX, load_latents
from .output_paths import check_output


@dataclass
class RetryDecode:
    """What the advice after an out-of-memory decode names: the command that decodes the saved latents again."""

    model: str | Path
    latents_path: Path
    out: Path
    tiling: object | None  # the VaeTiling that ran out of memory (None: untiled)


def out_of_memory_advice(retry: RetryDecode, height: int, width: int) -> str:
    """One sentence: where the latents are and the exact command that decodes them with smaller tiles."""
    from .memory.vae_stage import smaller_tile

    how = "untiled" if retry.tiling is None else f"with {retry.tiling.tile} px tiles"
    command = (
        f"python3 -m realisdance decode --model {shlex.quote(str(retry.model))} "
        f"--latents {shlex.quote(str(retry.latents_path))} --out {shlex.quote(str(retry.out))}"
    )
    tile = smaller_tile(retry.tiling, height, width)
    command += " --device cpu" if tile is None else f" --vae-tile {tile}"
    return (
        f"decoding ran out of device memory ({how}); the latents are saved at {retry.latents_path}; "
        f"retry with `{command}`"
    )


def decode_or_advise(decode, latents, retry: RetryDecode):
    """``decode(latents)``; running out of device memory becomes the one-sentence retry advice (an InputError)."""
    from .memory.device import is_out_of_memory  # imported here: the command line starts without torch

    try:
        return decode(latents)
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        message = out_of_memory_advice(retry, latents.shape[3] * 8, latents.shape[4] * 8)
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the failed decode's blocks (the traceback holding them is gone by now)
    raise InputError(message)


def decode_command(args, device: str) -> None:
    """``decode``: saved latents -> mp4 with the planned (or given) VAE tiling, written atomically."""
    from .encoders import load_vae
    from .encoders.vae_streaming import DECODE_CHUNK
    from .memory.device import free_device_bytes
    from .memory.vae_stage import decode_tiling
    from .memory.weights import module_bytes
    from .run_options import memory_options
    from .video import each_frame, write_video

    saved = load_latents(args.latents)  # a wrong file is refused before the VAE is loaded
    out = args.out or _decoded_video_path(args.latents)
    check_output(out)
    options = memory_options(args)
    budget = options.budget_bytes
    vae = load_vae(args.model, device="cpu")
    planned = None
    if args.vae_tile is None:
        free = budget if budget is not None else free_device_bytes(device)
        weight_bytes = module_bytes(vae.module)
        batch, channels, frames, height, width = saved.latents.shape  # decoded DECODE_CHUNK latent frames at a time
        planned = decode_tiling(
            free, weight_bytes, (batch, channels, min(frames, DECODE_CHUNK), height, width), vae.dtype
        )
    tiling = options.vae_tiling_for(planned)
    tiles = "untiled" if tiling is None else f"tiles {tiling.tile} px, overlap {tiling.overlap} px"
    print(f"decoding {saved.describe()} on {device} (VAE {tiles})")
    start = time.perf_counter()
    vae.to(device)
    retry = RetryDecode(args.model, args.latents, out, tiling)
    # Streamed: each few latent frames are decoded and written before the next, never the whole video in memory.
    decode_or_advise(lambda latents: write_video(out, each_frame(vae.decode_chunks(latents, tiling)), fps=saved.fps),
                     saved.latents, retry)  # fmt: skip
    print(f"wrote {out} ({time.perf_counter() - start:.1f} s)")


def _decoded_video_path(latents_path: Path) -> Path:
    name = latents_path.name
    return latents_path.with_name(name[: -len(LATENTS_SUFFIX)] if name.endswith(LATENTS_SUFFIX) else f"{name}.mp4")


def sampling_out_of_memory_advice(plan) -> str:
    """One sentence for a sampling step that ran out of device memory although the plan said it fits: usually another
    program took memory after planning, so plan for less."""
    if plan is None or plan.budget_bytes is None:
        return "sampling ran out of device memory; rerun with --vram-budget set below the GPU's free memory"
    gib = 1024**3
    planned = plan.budget_bytes / gib
    smaller = max(1.0, planned - 2.0)
    return (
        f"sampling ran out of device memory although the plan ({plan.kind}, {plan.dtype}) predicted "
        f"{plan.stage('sampling').bytes / gib:.1f} of {planned:.1f} GiB; another program may be using the GPU: rerun "
        f"with --vram-budget {smaller:g} (or --memory stream-all / fp8)"
    )
