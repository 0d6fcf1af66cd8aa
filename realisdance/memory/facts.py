"""``ModelFacts`` of a release folder read from its headers and configs, before any weight is loaded."""

from __future__ import annotations

from pathlib import Path

import torch

from .planner import ModelFacts


def _safetensors_elements(folder: Path) -> int:
    """Elements of every tensor in the folder's safetensors files, from their headers (checked: a truncated or
    corrupt file is a CheckpointError that names it)."""
    from ..checkpoints.safetensors_file import read_header

    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        total += sum(int(torch.Size(info.shape).numel()) for info in read_header(file).tensors.values())
    return total


def component_bytes(root: Path, name: str, element_bytes: int) -> int:
    """Bytes of a release component folder's weights once loaded with ``element_bytes`` per element (0 if absent)."""
    folder = root / name
    return _safetensors_elements(folder) * element_bytes if folder.is_dir() else 0


def transformer_config_and_dtype(path: str | Path, dtype: str) -> tuple[dict, str]:
    """The DiT's config and the storage precision ``dtype`` ('auto' or a name) resolves to, from headers only."""
    from ..checkpoints.dtypes import dominant_stored_dtype, resolve_dtype
    from ..checkpoints.loader import plan_tensors, resolve_config
    from ..checkpoints.sources import locate

    source = locate(path)
    _, shapes = plan_tensors(source)
    config = resolve_config(source, shapes, None)
    return config, resolve_dtype(dtype, dominant_stored_dtype(source.headers))


def release_facts(model: str | Path, dtype: str, transformer: str | Path | None = None) -> ModelFacts:
    """Facts of the release folder ``model`` (its DiT may come from ``transformer``), in the pipeline's precisions."""
    root = Path(model).expanduser()
    config, dit_dtype = transformer_config_and_dtype(transformer or root, dtype)
    text_bytes = 4 if dtype == "fp32" else 2  # the pipeline loads umT5 in bf16 unless everything is fp32
    return ModelFacts(
        config=config,
        dtype=dit_dtype,
        text_encoder_bytes=component_bytes(root, "text_encoder", text_bytes),
        clip_bytes=component_bytes(root, "image_encoder", 4),
        vae_bytes=component_bytes(root, "vae", 4),
        text_itemsize=text_bytes,
    )
