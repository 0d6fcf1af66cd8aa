"""Bytes of the DiT's weights per part, counted on a meta-device model with the loader's own dtype plan."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.precision import DTYPES, FP8


@dataclass(frozen=True)
class DitWeights:
    """Device bytes of the transformer stored in ``dtype``."""

    dtype: str  # storage precision name (fp32, bf16, fp16, fp8_e4m3fn, fp8_e5m2)
    block_bytes: tuple[int, ...]  # each of transformer.blocks
    other_bytes: int  # everything outside the blocks (embedders, patchifiers, head, fp32 tables)
    cast_bytes: int  # fp8 only: the largest layer upcast to the compute dtype for its forward (transient)

    @property
    def total_bytes(self) -> int:
        return self.other_bytes + sum(self.block_bytes)

    @property
    def largest_block(self) -> int:
        return max(self.block_bytes, default=0)


def _block_index(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[1]) if parts[0] == "blocks" and len(parts) > 1 else None


def count_weights(model: torch.nn.Module, dtype: str) -> DitWeights:
    """Per-part bytes of a (meta or loaded) transformer as it is stored now."""
    blocks = [0] * len(model.blocks)
    other = 0
    largest_cast = 0
    fp8 = DTYPES.get(dtype) in FP8
    for name, param in model.named_parameters():
        index = _block_index(name)
        if index is None:
            other += param.nbytes
        else:
            blocks[index] += param.nbytes
        if fp8 and param.dtype in FP8:
            largest_cast = max(largest_cast, param.numel() * 2)  # upcast to bf16 while its layer runs
    return DitWeights(dtype, tuple(blocks), other, largest_cast)


def dit_weights(config: dict, dtype: str) -> DitWeights:
    """Weights of a transformer of ``config`` stored in ``dtype``, without allocating any of them."""
    from ..checkpoints.dtypes import apply_dtype_plan
    from ..model import build_transformer

    model = build_transformer(config, device="meta")
    apply_dtype_plan(model, dtype)
    return count_weights(model, dtype)


def module_bytes(module: torch.nn.Module | None) -> int:
    if module is None:
        return 0
    return sum(p.nbytes for p in module.parameters()) + sum(b.nbytes for b in module.buffers())
