"""How each parameter is stored: the dtype plan applied while loading.

The plan is expressed on the meta-device model before any weight is read: parameters get their storage dtype
there, and the loader casts every incoming tensor to the dtype of the parameter it replaces. fp8 uses diffusers'
layerwise casting (weights stored in fp8, each layer upcast to bf16 just for its forward).
"""

from __future__ import annotations

import torch

from ..errors import CheckpointError
from ..model.precision import DTYPES, FP8, cast_keeping_fp32

_SAFETENSORS_DTYPES = {"F32": "fp32", "BF16": "bf16", "F16": "fp16", "F8_E4M3": "fp8_e4m3fn", "F8_E5M2": "fp8_e5m2"}


def resolve_dtype(requested: str, stored: str | None) -> str:
    """'auto' keeps the file's own precision (fp8 files stay fp8); any other name must be one of DTYPES."""
    if requested == "auto":
        return _SAFETENSORS_DTYPES.get(stored or "", "bf16")
    if requested not in DTYPES:
        raise CheckpointError(f"unknown dtype {requested!r}; choose one of auto, {', '.join(DTYPES)}")
    return requested


def dominant_stored_dtype(headers) -> str | None:
    """The safetensors dtype holding most parameters (the precision the file was published in)."""
    counts: dict[str, int] = {}
    for header in headers:
        for info in header.tensors.values():
            counts[info.dtype] = counts.get(info.dtype, 0) + int(torch.Size(info.shape).numel())
    return max(counts, key=counts.get) if counts else None


def apply_dtype_plan(model, dtype_name: str) -> torch.dtype:
    """Set storage dtypes on a (meta) model; returns the compute dtype."""
    storage = DTYPES[dtype_name]
    compute = torch.bfloat16 if storage in FP8 else storage
    cast_keeping_fp32(model, compute)
    if storage in FP8:
        model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute)
    return compute
