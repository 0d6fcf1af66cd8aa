"""Which parameters a fine-tuning run trains (the paper's section 3.2 and its ablation).

- ``part`` (the paper's "part fine-tuning"): the new modules (pose patchifier ``add_conv_in``, its zero projection
  ``add_proj``, the reference patchifier ``attn_conv_in``) and every block's self-attention (``attn1``: q, k, v, out
  and their norms); everything else stays as Wan 2.1 learned it.
- ``full``: every parameter.
- ``lora``: low-rank adapters (PEFT) on the self-attention projections of every block, plus the new modules trained
  in full (they are small, and a fresh model has nothing for a LoRA to adapt there).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError

STRATEGIES = ("part", "full", "lora")
NEW_MODULES = ("add_conv_in", "add_proj", "attn_conv_in")
SELF_ATTENTION = ".attn1."
LORA_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0")


@dataclass(frozen=True)
class TrainableParts:
    strategy: str = "part"
    lora_rank: int = 32
    lora_alpha: float | None = None  # None: equal to the rank (scale 1)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InputError(f"what to train must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}")
        if isinstance(self.lora_rank, bool) or not isinstance(self.lora_rank, int) or self.lora_rank < 1:
            raise InputError(f"the LoRA rank must be a whole number >= 1; got {self.lora_rank!r}")


def _is_new(name: str) -> bool:
    return name.split(".", 1)[0] in NEW_MODULES


def is_part_parameter(name: str) -> bool:
    """A parameter the paper's part fine-tuning trains."""
    return _is_new(name) or (name.startswith("blocks.") and SELF_ATTENTION in name)


def select_trainable(model: torch.nn.Module, parts: TrainableParts, seed: int = 0) -> list[str]:
    """Mark the parameters to train (requires_grad) and return their names; adds the LoRA adapters for ``lora``,
    their random half drawn from ``seed`` (the run's), so the same settings make the same run in any process."""
    model.requires_grad_(False)
    if parts.strategy == "lora":
        from peft import LoraConfig

        config = LoraConfig(
            r=parts.lora_rank,
            lora_alpha=parts.lora_alpha or parts.lora_rank,
            target_modules=list(LORA_TARGETS),
            init_lora_weights=True,  # B = 0: the adapted model starts exactly as the base
        )
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            model.add_adapter(config)  # diffusers' PEFT integration: adapter named "default", trainable
    names = []
    for name, parameter in model.named_parameters():
        if parts.strategy == "full" or _is_new(name) or (parts.strategy == "part" and is_part_parameter(name)):
            parameter.requires_grad_(True)
        if parts.strategy == "lora" and "lora_" in name:
            parameter.requires_grad_(True)
        if parameter.requires_grad:
            names.append(name)
    return names


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trained parameters (what a checkpoint needs besides the base model), on the CPU."""
    return {name: p.detach().to("cpu").clone() for name, p in model.named_parameters() if p.requires_grad}
