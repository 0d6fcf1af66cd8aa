"""The decoder node: Wan 2.1 LATENT -> frames as a plain IMAGE batch [F, H, W, 3] (what SaveVideo & co. take)."""

from __future__ import annotations

import time

import torch

from realisdance.errors import InputError
from realisdance.pipeline.latents import from_comfy_latent

from . import host, interop
from .host import io

TILING_MODES = ["auto", "off", "on"]


def vae_tiling(mode: str, tile_size: int, tile_overlap: int):
    """The tiling to decode with, or None for untiled. "auto" is untiled until the memory planner decides."""
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


class RealisDanceDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
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
                    tooltip="Decode in overlapping spatial tiles to save memory. auto = untiled for now.",
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

    @classmethod
    def execute(cls, vae, latent, tiling: str = "auto", tile_size: int = 256, tile_overlap: int = 64) -> io.NodeOutput:
        latents = from_comfy_latent(latent)
        core_vae = interop.video_vae(vae)
        plan = vae_tiling(tiling, tile_size, tile_overlap)
        host.throw_if_interrupted()
        started = time.perf_counter()
        with host.on_compute_device(core_vae):
            frames = decode_frames(core_vae, latents, plan)
        seconds = time.perf_counter() - started
        how = "untiled" if plan is None else f"tiles {plan.tile}px overlap {plan.overlap}px"
        line = f"{frames.shape[2]}x{frames.shape[1]}, {frames.shape[0]} frames, {how}, {seconds:.1f} s"
        return io.NodeOutput(frames, ui={"realisdance_summary": [line]})


NODES: list[type[io.ComfyNode]] = [RealisDanceDecode]
