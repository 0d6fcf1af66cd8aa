"""Write LoRA files for the tiny transformers in the key layouts found in the field (test helper).

Each writer takes the same logical LoRA (diffusers module name -> tensors) and spells it as one tool does, so a test
can check that every spelling changes the model the same way. The expected weights are computed by hand here,
independently of ``realisdance.lora``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from realisdance.checkpoints.keymap import diffusers_to_wan


def random_lora(model, modules, rank: int = 2, seed: int = 0, alpha: float | None = None) -> dict:
    """{module: {"down", "up", ("alpha")}} low-rank pairs with this model's shapes for ``modules``."""
    g = torch.Generator().manual_seed(seed)
    lora = {}
    for name in modules:
        weight = model.get_submodule(name).weight
        down = torch.randn(rank, *weight.shape[1:], generator=g) * 0.1
        up_shape = (weight.shape[0], rank, *([1] * (weight.ndim - 2)))
        lora[name] = {"down": down, "up": torch.randn(up_shape, generator=g) * 0.1}
        if alpha is not None:
            lora[name]["alpha"] = torch.tensor(alpha)
    return lora


def expected_weights(model, lora: dict, strength: float, diffs: dict | None = None) -> dict[str, torch.Tensor]:
    """W + strength * (alpha / rank) * up @ down, and + strength * delta for full deltas, by hand."""
    expected = {}
    for name, parts in lora.items():
        weight = model.get_submodule(name).weight.detach().float()
        scale = float(parts["alpha"]) / parts["down"].shape[0] if "alpha" in parts else 1.0
        product = parts["up"].reshape(parts["up"].shape[0], -1) @ parts["down"].reshape(parts["down"].shape[0], -1)
        expected[f"{name}.weight"] = weight + strength * scale * product.reshape(weight.shape)
    for parameter, delta in (diffs or {}).items():
        current = expected.get(parameter, dict(model.named_parameters())[parameter].detach().float())
        expected[parameter] = current + strength * delta
    return expected


def comfyui_keys(lora: dict, diffs: dict | None = None, down="lora_down", up="lora_up") -> dict:
    """``diffusion_model.blocks.0.self_attn.q.lora_down.weight`` (+ ``.alpha``, ``.diff``, ``.diff_b``, ``diff_m``)."""
    out = {}
    for name, parts in lora.items():
        wan = diffusers_to_wan(f"{name}.weight").rpartition(".")[0]
        out[f"diffusion_model.{wan}.{down}.weight"] = parts["down"]
        out[f"diffusion_model.{wan}.{up}.weight"] = parts["up"]
        if "alpha" in parts:
            out[f"diffusion_model.{wan}.alpha"] = parts["alpha"]
    for parameter, delta in (diffs or {}).items():
        wan = diffusers_to_wan(parameter)
        if wan.endswith(".modulation") and wan.startswith("blocks."):
            out[f"diffusion_model.{wan.rpartition('.')[0]}.diff_m"] = delta  # lightx2v's spelling
        elif wan.endswith(".modulation"):
            out[f"diffusion_model.{wan}.diff"] = delta  # head.modulation.diff, as kijai's loader spells it
        elif wan.endswith(".bias"):
            out[f"diffusion_model.{wan[: -len('.bias')]}.diff_b"] = delta
        else:
            out[f"diffusion_model.{wan[: -len('.weight')]}.diff"] = delta
    return out


def kohya_keys(lora: dict) -> dict:
    out = {}
    for name, parts in lora.items():
        flat = diffusers_to_wan(f"{name}.weight").rpartition(".")[0].replace(".", "_")
        out[f"lora_unet_{flat}.lora_down.weight"] = parts["down"]
        out[f"lora_unet_{flat}.lora_up.weight"] = parts["up"]
        out[f"lora_unet_{flat}.alpha"] = parts.get("alpha", torch.tensor(float(parts["down"].shape[0])))
    return out


def peft_keys(lora: dict) -> dict:
    """diffusers' ``transformer.blocks.0.attn1.to_q.lora_A.weight`` (no alpha: PEFT files carry scale 1)."""
    out = {}
    for name, parts in lora.items():
        scale = float(parts["alpha"]) / parts["down"].shape[0] if "alpha" in parts else 1.0
        out[f"transformer.{name}.lora_A.weight"] = parts["down"] * scale
        out[f"transformer.{name}.lora_B.weight"] = parts["up"]
    return out


def write(path: Path, tensors: dict) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path
