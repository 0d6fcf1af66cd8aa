"""Write a transformer as a diffusers folder (optionally sharded) or as one safetensors file.

Used to convert the official folder into a single file for ComfyUI's ``diffusion_models/`` and by the tests and
the demo to produce files in every layout the loader reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from .config_infer import CONFIG_METADATA_KEY
from .keymap import COMFYUI_PREFIX, diffusers_to_wan
from .sources import INDEX_NAME, WEIGHTS_NAME

NAMINGS = ("diffusers", "wan", "comfyui")


def _config_of(model) -> dict:
    config = {k: v for k, v in dict(model.config).items() if not k.startswith("_")}
    config["patch_size"] = list(config["patch_size"])
    return config


def _state_dict(model, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    tensors = {}
    for name, tensor in model.state_dict().items():
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.detach().contiguous().cpu()
    return tensors


def _atomic_save(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    tmp = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_single_file(model, path, naming: str = "comfyui", dtype: torch.dtype | None = None) -> Path:
    """One .safetensors file; 'comfyui' = original-Wan names under ``model.diffusion_model.``."""
    if naming not in NAMINGS:
        raise ValueError(f"naming must be one of {NAMINGS}")
    path = Path(path)
    tensors = _state_dict(model, dtype)
    if naming != "diffusers":
        prefix = COMFYUI_PREFIX if naming == "comfyui" else ""
        tensors = {prefix + diffusers_to_wan(name): t for name, t in tensors.items()}
    _atomic_save(tensors, path, {CONFIG_METADATA_KEY: json.dumps(_config_of(model))})
    return path


def save_diffusers_folder(model, folder, max_shard_bytes: int | None = None, dtype: torch.dtype | None = None) -> Path:
    """The official ``transformer/`` layout: config.json plus one file, or shards with an index."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"_class_name": "RealisDanceDiT", **_config_of(model)}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    tensors = _state_dict(model, dtype)
    if max_shard_bytes is None:
        _atomic_save(tensors, folder / WEIGHTS_NAME, {"format": "pt"})
        return folder
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        filename = f"diffusion_pytorch_model-{i:05d}-of-{len(shards):05d}.safetensors"
        _atomic_save(shard, folder / filename, {"format": "pt"})
        weight_map.update(dict.fromkeys(shard, filename))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / INDEX_NAME).write_text(json.dumps(index, indent=2))
    return folder
