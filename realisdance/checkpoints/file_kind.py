"""What kind of model a .safetensors file holds, told from its tensor names alone (no tensor is read).

Used to turn "a VAE file picked in the text-encoder loader" into one sentence naming both kinds, instead of a
missing-key error from deep inside a loader.
"""

from __future__ import annotations

import os

from .safetensors_file import read_header

UMT5 = "a umT5 text encoder"
WAN_VAE = "a Wan VAE"
CLIP_VISION = "a CLIP vision encoder"
DIFFUSION = "a diffusion transformer (DiT)"
UNKNOWN = "an unknown model"

# (kind, key prefixes or names of which one must be present), checked in order.
_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (WAN_VAE, ("encoder.conv1.weight", "encoder.conv_in.weight", "decoder.conv_in.weight", "decoder.conv1.weight")),
    (UMT5, ("shared.weight", "encoder.block.0.", "encoder.final_layer_norm.weight", "spiece_model")),
    (CLIP_VISION, ("vision_model.", "visual.", "transformer.resblocks.0.")),
    (DIFFUSION, ("blocks.0.", "model.diffusion_model.", "head.modulation", "patch_embedding.weight")),
)


def file_kind(path: str | os.PathLike) -> str:
    """One of the kind names above (``UNKNOWN`` when nothing matches); raises CheckpointError for a broken file."""
    names = list(read_header(path).tensors)
    for kind, markers in _SIGNATURES:
        if any(name == m or name.startswith(m) for name in names for m in markers):
            return kind
    return UNKNOWN
