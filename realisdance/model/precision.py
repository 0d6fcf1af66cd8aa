"""Weight precisions by name, and the release's rule that some modules always stay fp32."""

from __future__ import annotations

import torch

DTYPES = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)


def cast_keeping_fp32(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast every parameter to ``dtype`` except those of the model's ``_keep_in_fp32_modules``.

    The release keeps the timestep embedding, modulation tables and norms in fp32 whatever the model dtype. Works on
    meta tensors too (the loader plans dtypes before any weight exists).
    """
    keep_fp32 = set(model._keep_in_fp32_modules)
    for name, param in model.named_parameters():
        fp32 = any(part in keep_fp32 for part in name.split("."))
        param.data = param.data.to(torch.float32 if fp32 else dtype)
