"""The decoder node: Wan 2.1 LATENT -> frames as a plain IMAGE batch [F, H, W, 3] (what SaveVideo & co. take)."""

from __future__ import annotations

import time

import torch

from realisdance.encoders import VideoVAE
from realisdance.errors import InputError, RealisDanceError
from realisdance.memory.device import is_out_of_memory
from realisdance.memory.vae_stage import decode_room_needed, decode_tiling, smaller_tile
from realisdance.memory.weights import module_bytes

from . import host, interop
from .conditions import chunk_progress
from .deprecation import deprecated
from .host import io
from .latents import from_comfy_latent

TILING_MODES = ["auto", "off", "on"]


def auto_tiling(vae, latents: torch.Tensor):
    """tiling "auto": untiled when it fits in what is free once the host unloaded its own models as far as
    needed, else the largest tiles that fit. ComfyUI's own VAE plans (and falls back to tiles) by itself."""
    if not isinstance(vae, VideoVAE):
        return None
    weights = module_bytes(vae.module)
    host.make_room(decode_room_needed(weights, latents.shape, vae.dtype))
    return decode_tiling(host.free_device_bytes(), weights, latents.shape, vae.dtype)


def vae_tiling(mode: str, tile_size: int, tile_overlap: int):
    """The tiling "on" asks for, or None (untiled, or "auto": decided from free memory by ``auto_tiling``)."""
    if mode != "on":
        return None
    if tile_overlap >= tile_size:
        raise InputError(f"tile_overlap ({tile_overlap}) must be smaller than tile_size ({tile_size}).")
    try:
        from realisdance.encoders.vae_tiling import VaeTiling
    except ImportError as err:
        raise InputError("tiled decoding is not available in this version of the pack; set tiling to off.") from err
    return VaeTiling(tile=tile_size, overlap=tile_overlap)


def decode_frames(vae, latents: torch.Tensor, tiling) -> torch.Tensor:
    """Normalised latents -> (B * F, H, W, 3) float [0, 1] on the CPU; batch items follow one another."""
    video = vae.decode(latents) if tiling is None else vae.decode(latents, tiling=tiling)
    return video.float().cpu().permute(0, 2, 3, 4, 1).reshape(-1, *video.shape[-2:], 3).contiguous()


def decode_out_of_memory_advice(tiling, height: int, width: int) -> str:
    """One sentence for a decode that ran out of device memory: what to change before queueing again."""
    how = "untiled" if tiling is None else f"with {tiling.tile} px tiles"
    retry = smaller_tile(tiling, height, width)
    kept = "the latent is kept, so queueing the prompt again only re-runs the decode"
    if retry is None:
        return (
            f"decoding {width}x{height} ran out of device memory even {how}; free device memory (close other "
            f"programs, unload other models) or decode fewer frames ({kept})."
        )
    return (
        f"decoding {width}x{height} ran out of device memory {how}; set tiling to 'on' with tile_size {retry} (or "
        f"smaller) and queue the prompt again ({kept})."
    )


class RealisDanceDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceDecode",
            display_name="RealisDance Decode",
            category="RealisDance",
            description="Decodes a Wan 2.1 LATENT to frames (an IMAGE batch) for Save Video / Create Video.",
            inputs=[
                io.MultiType.Input(
                    "vae",
                    types=host.VAE_TYPES,
                    tooltip="The Wan 2.1 VAE: RealisDance VAE Loader or ComfyUI's Load VAE.",
                ),
                io.Latent.Input("latent", tooltip="From RealisDance Sampler (or any Wan 2.1 video LATENT)."),
                io.Combo.Input(
                    "tiling",
                    options=TILING_MODES,
                    default="auto",
                    tooltip=(
                        "Decode in overlapping spatial tiles to save memory. auto = untiled when it fits in the free "
                        "device memory, else the largest tiles that fit; on = tile_size / tile_overlap below."
                    ),
                ),
                io.Int.Input(
                    "tile_size",
                    default=256,
                    min=64,
                    max=4096,
                    step=32,
                    tooltip="Tile side in pixels (tiling on).",
                ),
                io.Int.Input(
                    "tile_overlap",
                    default=64,
                    min=0,
                    max=2048,
                    step=16,
                    tooltip="Overlap between tiles in pixels (tiling on); blended to hide seams.",
                ),
            ],
            outputs=[io.Image.Output(display_name="frames", tooltip="All frames as one IMAGE batch [F, H, W, 3].")],
        )
        return deprecated(schema)

    @classmethod
    def execute(cls, vae, latent, tiling: str = "auto", tile_size: int = 256, tile_overlap: int = 64) -> io.NodeOutput:
        latents = from_comfy_latent(latent)
        core_vae = interop.video_vae(vae)
        plan = vae_tiling(tiling, tile_size, tile_overlap)
        if tiling == "auto":
            plan = auto_tiling(core_vae, latents)
        host.throw_if_interrupted()
        started = time.perf_counter()
        try:
            with host.on_compute_device(core_vae), chunk_progress(core_vae, latents.shape[2]):
                frames = decode_frames(core_vae, latents, plan)
        except RuntimeError as error:
            if not is_out_of_memory(error):
                raise
            # The LATENT input stays cached upstream, so the advice's re-queue runs only this node again.
            host.release_cached_memory()
            height, width = latents.shape[-2] * 8, latents.shape[-1] * 8
            raise RealisDanceError(decode_out_of_memory_advice(plan, height, width)) from None
        seconds = time.perf_counter() - started
        how = "untiled" if plan is None else f"tiles {plan.tile}px overlap {plan.overlap}px"
        if tiling == "auto" and plan is not None:
            how += " (auto, from free memory)"
        line = f"{frames.shape[2]}x{frames.shape[1]}, {frames.shape[0]} frames, {how}, {seconds:.1f} s"
        return io.NodeOutput(frames, ui={"realisdance_summary": [line]})


NODES: list[type[io.ComfyNode]] = [RealisDanceDecode]
