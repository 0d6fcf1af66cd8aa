"""The release's DiT as one ComfyUI ``diffusion_models`` file: bf16, or fp8 e4m3fn with per-tensor scales.

Original-Wan names without a prefix, as ComfyUI's repackaged Wan files store them (the host's Load Diffusion Model
and the pack's MODEL loader both read it). The scaled-fp8 layout is ComfyUI's: the linear weights inside the
transformer blocks stored as ``round(w / s)`` in float8_e4m3fn with ``s = max|w| / 448`` kept beside them as
``<layer>.scale_weight`` (fp32), and a ``scaled_fp8`` marker tensor; everything else stays bf16. The tensors stream
one at a time, so the 14B model converts in a few GB of memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoints.config_infer import CONFIG_METADATA_KEY
from ..checkpoints.keymap import diffusers_to_wan
from ..checkpoints.loader import plan_transformer
from ..checkpoints.saver import config_of
from ..checkpoints.streaming_writer import TensorEntry, write_streamed

PRECISIONS = ("bf16", "fp8_e4m3fn_scaled")
FP8 = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8).max)  # 448
SCALE_SUFFIX = ".scale_weight"
FP8_MARKER = "scaled_fp8"


def quantised_names(model) -> set[str]:
    """The diffusers names of the linear weights inside the transformer blocks (the bulk of the 14B)."""
    return {
        f"{name}.weight"
        for name, module in model.named_modules()
        if name.startswith("blocks.") and isinstance(module, torch.nn.Linear)
    }


def scaled_fp8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fp8 weight, fp32 scale) with weight ~= fp8 * scale."""
    weight = weight.float()
    scale = (weight.abs().amax() / FP8_MAX).clamp_min(torch.finfo(torch.float32).tiny)
    return (weight / scale).clamp_(-FP8_MAX, FP8_MAX).to(FP8), scale.reshape(())


def write_transformer(
    release, out: Path, precision: str = "bf16", progress: Callable[[int, int], None] | None = None
) -> Path:
    """Convert the transformer of ``release`` (the release folder, its transformer/ or any file the loader reads)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    planned = plan_transformer(release, "bf16")
    parameters = dict(planned.model.named_parameters())
    quantised = quantised_names(planned.model) if precision == "fp8_e4m3fn_scaled" else set()
    entries = []
    for name in planned.tensor_order():
        shape = tuple(parameters[name].shape)
        stored = diffusers_to_wan(name)
        if name in quantised:
            entries.append(TensorEntry(stored, FP8, shape))
            entries.append(TensorEntry(stored.removesuffix(".weight") + SCALE_SUFFIX, torch.float32, ()))
        else:
            entries.append(TensorEntry(stored, torch.bfloat16, shape))
    if quantised:
        entries.append(TensorEntry(FP8_MARKER, FP8, (0,)))

    def tensors():
        for name, tensor in planned.tensors(progress):
            stored = diffusers_to_wan(name)
            if name in quantised:
                weight, scale = scaled_fp8(tensor)
                yield stored, weight
                yield stored.removesuffix(".weight") + SCALE_SUFFIX, scale
            else:
                yield stored, tensor.to(torch.bfloat16)
        if quantised:
            yield FP8_MARKER, torch.empty(0, dtype=FP8)

    metadata = {CONFIG_METADATA_KEY: json.dumps(config_of(planned.model)), "format": "pt"}
    return write_streamed(out, entries, tensors(), metadata)
