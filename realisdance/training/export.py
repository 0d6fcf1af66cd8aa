"""What a fine-tuning run leaves for inference.

- ``part`` / ``full``: a ``transformer/`` folder (config.json + safetensors, the release's layout), loadable with
  ``--transformer RUN/transformer`` beside the release folder, and by ComfyUI's loaders.
- ``lora``: ``RUN/lora.safetensors`` in the original-Wan / ComfyUI naming that this pack's LoRA loading
  (``--lora``) and ComfyUI's LoRA loaders read: ``diffusion_model.blocks.N.self_attn.q.lora_down.weight`` /
  ``lora_up.weight`` (the adapter's scale alpha / rank baked into ``lora_up``, so no ``alpha`` key is needed), and
  the new modules trained in full as ``.diff`` / ``.diff_b`` deltas from the weights the run started from.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints.keymap import diffusers_to_wan
from .parts import NEW_MODULES


def base_of_new_modules(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The new modules' weights before training: a LoRA export stores the trained ones as deltas from these."""
    return {name: p.detach().to("cpu").clone() for name, p in model.named_parameters()
            if name.split(".")[0] in NEW_MODULES}  # fmt: skip


def export_lora(model: torch.nn.Module, base: dict[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    for name, module in modules.items():
        lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if not isinstance(lora_a, torch.nn.ModuleDict) or "default" not in lora_a:
            continue
        scale = float(module.scaling["default"])
        wan = "diffusion_model." + diffusers_to_wan(f"{name}.weight").removesuffix(".weight")
        tensors[f"{wan}.lora_down.weight"] = lora_a["default"].weight.detach().float().cpu().contiguous()
        tensors[f"{wan}.lora_up.weight"] = (lora_b["default"].weight.detach().float().cpu() * scale).contiguous()
    parameters = dict(model.named_parameters())
    for name, start in base.items():
        delta = (parameters[name].detach().float().cpu() - start.float()).contiguous()
        stem, leaf = name.rsplit(".", 1)
        tensors[f"diffusion_model.{stem}.{'diff' if leaf == 'weight' else 'diff_b'}"] = delta
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt", "realisdance": "fine-tuned LoRA"})
    return path


def export_transformer(model: torch.nn.Module, folder: Path) -> Path:
    """The whole fine-tuned transformer in the release's ``transformer/`` layout."""
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


SHARD_BYTES = 2 * 1024**3  # the sharded export writes files of about this size as the gathered tensors arrive


def export_sharded_transformer(model: torch.nn.Module, folder: Path, rank: int) -> Path | None:
    """``export_transformer`` for a model sharded over the processes (every process calls it; the first writes): the
    weights are gathered one tensor at a time and written in shard files as they fill, so the first process holds
    one shard file's worth at most."""
    from ..checkpoints.saver import DiffusersFolderWriter, config_of

    parameters = dict(model.named_parameters())
    writer = None
    if rank == 0:
        sizes = {name: p.numel() * p.element_size() for name, p in parameters.items()}  # a DTensor's whole size
        writer = DiffusersFolderWriter(folder, config_of(model), sizes, SHARD_BYTES)
    for name, parameter in parameters.items():
        whole = parameter.full_tensor() if hasattr(parameter, "full_tensor") else parameter
        if writer is not None:
            writer.add(name, whole)
        del whole
    return writer.finish() if writer is not None else None
