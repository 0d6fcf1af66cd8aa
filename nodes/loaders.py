"""Loader nodes: thin V3 schemas around the core loaders."""

from __future__ import annotations

from realisdance.model.handle import ModelHandle, available_attention, load_model

from . import host
from .host import io

# "auto" plus every name of realisdance.checkpoints.DTYPES, most useful first.
DTYPE_CHOICES = ["auto", "bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2", "fp32"]


class RealisDanceModelLoader(io.ComfyNode):
    """Load the RealisDance-DiT transformer from a single file or an official diffusers folder."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceModelLoader",
            display_name="RealisDance-DiT Loader",
            category="RealisDance",
            description=(
                "Loads the RealisDance-DiT transformer (Wan 2.1 I2V 14B + pose and reference modules) into host "
                "memory, streaming one tensor at a time. Accepts the official diffusers release and single "
                ".safetensors files in diffusers, original-Wan or ComfyUI naming, including fp8."
            ),
            inputs=[
                io.Combo.Input(
                    "model",
                    options=host.model_choices(),
                    tooltip=(
                        "A .safetensors file from models/diffusion_models/, or a release folder (ending in '/') "
                        "from models/realisdance/ holding model_index.json or transformer/config.json."
                    ),
                ),
                io.Combo.Input(
                    "dtype",
                    options=DTYPE_CHOICES,
                    default="auto",
                    tooltip=(
                        "Storage precision of the weights. auto keeps the file's own precision (an fp8 file stays "
                        "fp8). fp8 stores weights in 8 bits and computes in bf16 (about half the memory of bf16). "
                        "Norms and modulation tables always stay fp32, as in the release."
                    ),
                ),
                io.Combo.Input(
                    "attention",
                    options=available_attention(),
                    default="sdpa",
                    tooltip=(
                        "Attention kernel. sdpa (PyTorch scaled-dot-product attention) always works; sage, flash "
                        "and xformers are listed only when their package is installed."
                    ),
                ),
            ],
            outputs=[
                host.RealisDanceModel.Output(
                    display_name="model", tooltip="The loaded transformer, for the RealisDance sampler."
                )
            ],
        )

    @classmethod
    def execute(cls, model: str, dtype: str = "auto", attention: str = "sdpa") -> io.NodeOutput:
        path = host.resolve_model_path(model)
        host.release_cached_memory()
        handle: ModelHandle = load_model(path, dtype=dtype, attention=attention, progress=host.progress_reporter())
        return io.NodeOutput(handle)


NODES: list[type[io.ComfyNode]] = [RealisDanceModelLoader]
