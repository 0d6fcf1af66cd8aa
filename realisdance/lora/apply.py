"""Put LoRAs on a transformer: merged into the weights (default) or kept as PEFT adapters.

Merged ("fused"): W += strength * scale * up @ down for each low-rank pair, W += strength * diff, b += strength *
diff_b, computed in float32 one module at a time and stored back in the weight's own dtype. The forward then costs
exactly what it cost without the LoRA, fp8 storage and block streaming see ordinary weights, and the memory plan does
not change. Merging must happen before fp8 conversion and placement, as ``RealisDancePipeline.from_pretrained`` does.

Adapters ("unfused", needs the ``peft`` package): diffusers' ``load_lora_adapter`` wraps the layers; strengths can
be changed with ``set_adapters`` without reloading, at the cost of two thin matmuls per wrapped layer per forward
(measured in ``benchmarks/fast_sampling.py``). Full deltas (``diff``, ``diff_b``) have no low-rank form and are
merged in both modes.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..errors import InputError
from .reading import LoraFile, ParameterUpdate, read_lora
from .spec import LoraSpec

LORA_MODES = ("merge", "adapter")


def _targets(transformer: torch.nn.Module, update: ParameterUpdate):
    """(weight or bare parameter, bias or None) that ``update`` changes."""
    if update.parameter is not None:
        return dict(transformer.named_parameters())[update.parameter], None
    module = transformer.get_submodule(update.module)
    return module.weight, getattr(module, "bias", None)


def check_lora_fits(transformer: torch.nn.Module, lora: LoraFile) -> None:
    """Refuse, before any weight changes, a LoRA whose updates do not have this model's shapes."""
    for key, update in lora.updates.items():
        weight, bias = _targets(transformer, update)
        shapes = []
        if update.down is not None:
            shapes.append((update.up.shape[0] * update.down.flatten(1).shape[1], "low-rank update"))
        if update.diff is not None:
            shapes.append((update.diff.numel(), "weight delta"))
        for numel, what in shapes:
            if numel != weight.numel():
                raise InputError(
                    f"LoRA {lora.path.name}: its {what} of {key} does not have the shape of this model's weight "
                    f"{tuple(weight.shape)}; the LoRA was made for another model size (e.g. Wan 2.1 1.3B vs 14B)"
                )
        if update.diff_b is not None and (bias is None or update.diff_b.numel() != bias.numel()):
            raise InputError(f"LoRA {lora.path.name}: its bias delta of {key} does not fit this model's bias")


def _add(parameter: torch.nn.Parameter, delta: torch.Tensor) -> None:
    with torch.no_grad():
        merged = parameter.data.float() + delta.to(parameter.device, torch.float32).reshape(parameter.shape)
        parameter.data = merged.to(parameter.dtype)


def merge_lora(transformer: torch.nn.Module, lora: LoraFile, strength: float, low_rank: bool = True) -> None:
    """Add ``lora`` at ``strength`` into the weights (``low_rank=False``: only its full deltas)."""
    check_lora_fits(transformer, lora)
    for update in lora.updates.values():
        weight, bias = _targets(transformer, update)
        if low_rank and update.down is not None:
            delta = update.up.float().flatten(1) @ update.down.float().flatten(1)  # linear and conv layers alike
            _add(weight, (strength * update.scale) * delta)
        if update.diff is not None:
            _add(weight, strength * update.diff.float())
        if update.diff_b is not None:
            _add(bias, strength * update.diff_b.float())


def _adapter_state_dict(lora: LoraFile) -> dict[str, torch.Tensor]:
    """The low-rank pairs in PEFT's naming, alpha / rank folded into lora_A (PEFT then scales by 1)."""
    state = {}
    for key, update in lora.updates.items():
        if update.down is not None and update.parameter is None:
            state[f"{key}.lora_A.weight"] = update.down.float() * update.scale
            state[f"{key}.lora_B.weight"] = update.up.float()
    return state


def _load_adapter(transformer, lora: LoraFile, name: str) -> None:
    import importlib.util

    if importlib.util.find_spec("peft") is None:
        raise InputError("LoRA mode 'adapter' needs the 'peft' package: pip install peft (or use the 'merge' mode)")
    state = _adapter_state_dict(lora)
    if state:
        transformer.load_lora_adapter(state, adapter_name=name, prefix=None)


def apply_loras(transformer: torch.nn.Module, specs: Iterable[LoraSpec], mode: str = "merge") -> list[LoraFile]:
    """Read every LoRA first (a bad file is refused before any weight changes), then apply them in order."""
    if mode not in LORA_MODES:
        raise InputError(f"unknown LoRA mode {mode!r}; use one of {', '.join(LORA_MODES)}")
    specs = list(specs)
    loras = [read_lora(spec.path, transformer) for spec in specs]
    for lora in loras:
        check_lora_fits(transformer, lora)
    names = []
    for index, (spec, lora) in enumerate(zip(specs, loras, strict=True)):
        if mode == "merge":
            merge_lora(transformer, lora, spec.strength)
            continue
        merge_lora(transformer, lora, spec.strength, low_rank=False)
        name = f"lora{index}"
        _load_adapter(transformer, lora, name)
        names.append(name)
    if names:
        transformer.set_adapters(names, [spec.strength for spec in specs])
    return loras
