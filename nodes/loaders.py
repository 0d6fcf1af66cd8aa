"""Loader nodes: thin V3 schemas around the core loaders."""

from __future__ import annotations

import logging
import os

import torch

from realisdance.attention import available_attention, check_attention
from realisdance.checkpoints import file_kind as kinds
from realisdance.encoders import load_clip_image_encoder, load_text_encoder, load_vae
from realisdance.errors import CheckpointError

from . import host
from .deprecation import deprecated
from .host import io

logger = logging.getLogger(__name__)

# "auto" plus every name of realisdance.checkpoints.DTYPES, most useful first.
DTYPE_CHOICES = ["auto", "bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2", "fp32"]


class RealisDanceModelLoader(io.ComfyNode):
    """Load the RealisDance-DiT transformer from a single file or an official diffusers folder."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceModelLoader",
            display_name="RealisDance-DiT Loader",
            category="RealisDance",
            description=(
                "Loads RealisDance-DiT as the native MODEL that 'RealisDance-DiT Loader (MODEL)' loads (kept so "
                "saved workflows open and run). Accepts the official diffusers release and single .safetensors "
                "files in diffusers, original-Wan or ComfyUI naming, including fp8. ComfyUI's memory manager "
                "places the model when it samples."
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
                        "Kept for saved workflows: the native model uses ComfyUI's attention (its "
                        "--use-sage-attention / --use-flash-attention options)."
                    ),
                ),
            ],
            outputs=[
                host.RealisDanceModel.Output(
                    display_name="model", tooltip="The native RealisDance-DiT MODEL, for the RealisDance nodes."
                )
            ],
        )
        return deprecated(schema)

    @classmethod
    def execute(cls, model: str, dtype: str = "auto", attention: str = "sdpa") -> io.NodeOutput:
        from .native.loading import load_native_model

        check_attention(attention)
        if attention != "sdpa":
            logger.warning(
                "RealisDance-DiT Loader (deprecated): attention '%s' is now ComfyUI's choice; start ComfyUI with "
                "--use-sage-attention or --use-flash-attention to use it.",
                attention,
            )
        path = host.resolve_model_path(model)
        host.release_cached_memory()
        return io.NodeOutput(load_native_model(path, WEIGHT_DTYPE_OF[dtype]))


# The old storage choices -> the native loader's weight_dtype (auto: the host's choice for the file and device).
WEIGHT_DTYPE_OF = {"auto": "default", **{name: name for name in DTYPE_CHOICES if name != "auto"}}


ENCODER_DTYPES = {"auto": None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _expect_kind(path: str, wanted: str, native_hint: str) -> None:
    """Refuse a single file of another kind, or of the right kind in a layout only ComfyUI's own loader reads."""
    kind = kinds.file_kind(path)
    name = os.path.basename(path)
    if kind != wanted:
        raise CheckpointError(f"'{name}' is {kind}, not {wanted}. Pick another file or the release folder ('/').")
    raise CheckpointError(
        f"'{name}' is {wanted} in ComfyUI's single-file layout, which this loader does not read. Use {native_hint} "
        "(RealisDance Conditions accepts its output), or pick the release folder ('/')."
    )


def _dtype_input(default_note: str) -> io.Combo.Input:
    return io.Combo.Input(
        "dtype",
        options=list(ENCODER_DTYPES),
        default="auto",
        tooltip=f"Compute precision. auto = {default_note}.",
    )


class RealisDanceTextEncoderLoader(io.ComfyNode):
    """umT5 text encoder + tokenizer from the release folder."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceTextEncoderLoader",
            display_name="RealisDance Text Encoder Loader",
            category="RealisDance",
            description="Loads the umT5-XXL text encoder and its tokenizer from the release folder.",
            inputs=[
                io.Combo.Input(
                    "text_encoder",
                    options=host.component_choices("text_encoders"),
                    tooltip=(
                        "A release folder from models/realisdance/ (its text_encoder/ and tokenizer/ are used). "
                        "Single umT5 files from models/text_encoders/ go through ComfyUI's Load CLIP (type wan) "
                        "and CLIP Text Encode instead; RealisDance Conditions accepts that CONDITIONING."
                    ),
                ),
                _dtype_input("bf16, as the release"),
            ],
            outputs=[host.RealisDanceTextEncoder.Output(display_name="text_encoder", tooltip="umT5 + tokenizer.")],
        )
        return deprecated(schema)

    @classmethod
    def execute(cls, text_encoder: str, dtype: str = "auto") -> io.NodeOutput:
        path = host.resolve_component_path("text_encoders", text_encoder)
        if os.path.isfile(path):
            _expect_kind(path, kinds.UMT5, "ComfyUI's Load CLIP node (type wan) with CLIP Text Encode")
        host.release_cached_memory()  # umT5-XXL is the second-largest load (about 11 GB in bf16), into host memory
        torch_dtype = ENCODER_DTYPES[dtype] or torch.bfloat16
        return io.NodeOutput(load_text_encoder(path, dtype=torch_dtype))


class RealisDanceClipVisionLoader(io.ComfyNode):
    """CLIP ViT-H/14 image encoder from the release folder."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceClipVisionLoader",
            display_name="RealisDance CLIP Vision Loader",
            category="RealisDance",
            description="Loads the CLIP vision encoder (image_encoder/) of the release, for I2V models.",
            inputs=[
                io.Combo.Input(
                    "clip_vision",
                    options=host.component_choices("clip_vision"),
                    tooltip=(
                        "A release folder from models/realisdance/ (its image_encoder/ is used). Single files such "
                        "as clip_vision_h.safetensors load with ComfyUI's Load CLIP Vision node, whose output "
                        "RealisDance Conditions accepts too."
                    ),
                ),
                _dtype_input("fp32, as the release"),
            ],
            outputs=[host.RealisDanceClipVision.Output(display_name="clip_vision", tooltip="The image encoder.")],
        )
        return deprecated(schema)

    @classmethod
    def execute(cls, clip_vision: str, dtype: str = "auto") -> io.NodeOutput:
        path = host.resolve_component_path("clip_vision", clip_vision)
        if os.path.isfile(path):
            _expect_kind(path, kinds.CLIP_VISION, "ComfyUI's Load CLIP Vision node")
        torch_dtype = ENCODER_DTYPES[dtype] or torch.float32
        return io.NodeOutput(load_clip_image_encoder(path, dtype=torch_dtype))


class RealisDanceVAELoader(io.ComfyNode):
    """The Wan 2.1 VAE from a single file or the release folder."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceVAELoader",
            display_name="RealisDance VAE Loader",
            category="RealisDance",
            description="Loads the Wan 2.1 VAE (16 latent channels) from models/vae/ or the release folder.",
            inputs=[
                io.Combo.Input(
                    "vae",
                    options=host.component_choices("vae"),
                    tooltip="wan_2.1_vae.safetensors from models/vae/, or a release folder (its vae/ is used).",
                ),
                _dtype_input("fp32, as the release"),
            ],
            outputs=[host.RealisDanceVae.Output(display_name="vae", tooltip="The Wan 2.1 VAE.")],
        )
        return deprecated(schema)

    @classmethod
    def execute(cls, vae: str, dtype: str = "auto") -> io.NodeOutput:
        path = host.resolve_component_path("vae", vae)
        if os.path.isfile(path) and (kind := kinds.file_kind(path)) != kinds.WAN_VAE:
            raise CheckpointError(f"'{os.path.basename(path)}' is {kind}, not {kinds.WAN_VAE}. Pick the VAE file.")
        torch_dtype = ENCODER_DTYPES[dtype] or torch.float32
        return io.NodeOutput(load_vae(path, dtype=torch_dtype))


NODES: list[type[io.ComfyNode]] = [
    RealisDanceModelLoader,
    RealisDanceTextEncoderLoader,
    RealisDanceClipVisionLoader,
    RealisDanceVAELoader,
]
