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


def config_of(model) -> dict:
    """The model's config as saved beside its weights (no private keys, patch size as a list)."""
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
    _atomic_save(tensors, path, {CONFIG_METADATA_KEY: json.dumps(config_of(model))})
    return path


def save_diffusers_folder(model, folder, max_shard_bytes: int | None = None, dtype: torch.dtype | None = None) -> Path:
    """The official ``transformer/`` layout: config.json plus one file, or shards with an index."""
    tensors = _state_dict(model, dtype)
    writer = DiffusersFolderWriter(folder, config_of(model), {n: t.numel() * t.element_size() for n, t in
                                                               tensors.items()}, max_shard_bytes)  # fmt: skip
    for name, tensor in tensors.items():
        writer.add(name, tensor)
    return writer.finish()


class DiffusersFolderWriter:
    """Writes the ``transformer/`` layout tensor by tensor: each shard file is written as soon as its tensors have
    arrived, so the writer holds one shard at most (a model gathered from processes one tensor at a time is never
    whole in memory). ``sizes``: every tensor's bytes, in the order they will arrive."""

    def __init__(self, folder, config: dict, sizes: dict[str, int], max_shard_bytes: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config.json").write_text(json.dumps({"_class_name": "RealisDanceDiT", **config}, indent=2))
        groups: list[list[str]] = [[]]
        size = 0
        for name, nbytes in sizes.items():
            if max_shard_bytes is not None and groups[-1] and size + nbytes > max_shard_bytes:
                groups.append([])
                size = 0
            groups[-1].append(name)
            size += nbytes
        self.sharded = max_shard_bytes is not None
        names = [WEIGHTS_NAME] if not self.sharded else [
            f"diffusion_pytorch_model-{i:05d}-of-{len(groups):05d}.safetensors" for i in range(1, len(groups) + 1)
        ]  # fmt: skip
        self.file_of = {name: file for file, group in zip(names, groups, strict=True) for name in group}
        self.pending = {file: len(group) for file, group in zip(names, groups, strict=True)}
        self.total = sum(sizes.values())
        self.open: dict[str, dict[str, torch.Tensor]] = {}

    def add(self, name: str, tensor: torch.Tensor) -> None:
        file = self.file_of[name]
        self.open.setdefault(file, {})[name] = tensor.detach().contiguous().cpu()
        self.pending[file] -= 1
        if self.pending[file] == 0:
            _atomic_save(self.open.pop(file), self.folder / file, {"format": "pt"})

    def finish(self) -> Path:
        if any(self.pending.values()):
            missing = [name for name, file in self.file_of.items() if self.pending[file]]
            raise ValueError(f"tensors never arrived: {missing[:3]}")
        if self.sharded:
            index = {"metadata": {"total_size": self.total}, "weight_map": self.file_of}
            (self.folder / INDEX_NAME).write_text(json.dumps(index, indent=2))
        return self.folder
