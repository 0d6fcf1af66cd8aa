"""What changes the transformer itself at load time: LoRAs, the attention kernel, regional compilation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..attention import check_attention, set_attention
from ..errors import InputError
from ..lora import LORA_MODES, LoraSpec, apply_loras

COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")  # inductor is the fast one; the others are for debugging


@dataclass(frozen=True)
class ModelPatches:
    loras: tuple[LoraSpec, ...] = ()
    lora_mode: str = "merge"  # "merge" into the weights, or keep PEFT "adapter"s (needs peft; costs compute)
    attention: str = "sdpa"  # sdpa, sage, flash, xformers (when installed)
    compile_backend: str | None = None  # None: no torch.compile; else regional compilation of the blocks

    def __post_init__(self) -> None:
        object.__setattr__(self, "loras", tuple(self.loras))
        if self.lora_mode not in LORA_MODES:
            raise InputError(f"unknown LoRA mode {self.lora_mode!r}; use one of {', '.join(LORA_MODES)}")
        if self.compile_backend is not None and self.compile_backend not in COMPILE_BACKENDS:
            raise InputError(f"unknown compile backend {self.compile_backend!r}; use {', '.join(COMPILE_BACKENDS)}")
        check_attention(self.attention)

    def check_files(self) -> None:
        """Each LoRA file exists (before minutes of model loading)."""
        for spec in self.loras:
            if not spec.path.is_file():
                raise InputError(f"LoRA file not found: {spec.path}")

    def adapter_bytes(self) -> int:
        """Device bytes of LoRAs kept as adapters (their files' size: the low-rank pairs dominate)."""
        if self.lora_mode != "adapter":
            return 0
        return sum(spec.path.stat().st_size for spec in self.loras if spec.path.is_file())


def check_loras_fit(config: dict, patches: ModelPatches) -> None:
    """Refuse LoRAs that do not fit the model ``config`` describes, before any weights are read: a meta model and
    the LoRA files' headers (their data is read once, when they are applied)."""
    from ..lora import check_lora_fits, read_lora
    from ..model import build_transformer

    if not patches.loras:
        return
    with torch.device("meta"):
        skeleton = build_transformer(config)
    for spec in patches.loras:
        check_lora_fits(skeleton, read_lora(spec.path, skeleton, shapes_only=True))


def patch_before_placement(transformer: torch.nn.Module, patches: ModelPatches) -> None:
    """LoRAs go in while the weights are still in their loaded precision on the CPU (before fp8 and streaming)."""
    if patches.loras:
        apply_loras(transformer, patches.loras, mode=patches.lora_mode)
    set_attention(transformer, patches.attention)


def patch_after_placement(transformer: torch.nn.Module, patches: ModelPatches) -> int:
    """Regional compilation of the repeated blocks (diffusers' ``compile_repeated_blocks``): each block class is
    compiled once and reused by all 40 blocks, so compiling costs one block's worth, paid in the first forward.
    Returns the number of blocks compiled."""
    if patches.compile_backend is None:
        return 0
    transformer.compile_repeated_blocks(backend=patches.compile_backend)
    return len(transformer.blocks)
