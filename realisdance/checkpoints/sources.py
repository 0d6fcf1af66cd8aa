"""Finding the weight files of a transformer: the official folder, a sharded index, or one file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from .safetensors_file import SafetensorsHeader, read_header

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
INDEX_NAME = WEIGHTS_NAME + ".index.json"

_PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pkl"}


@dataclass
class CheckpointSource:
    """Where the tensors are: ``headers`` (one per file) plus the folder's ``config.json`` when there is one."""

    path: Path
    headers: list[SafetensorsHeader]
    config: dict | None = None
    config_path: Path | None = None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: cannot read this JSON file ({err}); download it again.") from err


def _from_index(index_path: Path) -> list[SafetensorsHeader]:
    index = _read_json(index_path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{index_path}: the index has no 'weight_map'; download it again.")
    shards = sorted(set(weight_map.values()))
    folder = index_path.parent.resolve()
    for name in shards:  # an index names files of its own folder; never let it open anything elsewhere
        if not isinstance(name, str) or Path(name).is_absolute() or (folder / name).resolve().parent != folder:
            raise CheckpointError(
                f"{index_path}: the index names the shard {name!r}, which is not a file of its folder; the index is "
                "damaged or crafted. Download it again."
            )
    missing = [name for name in shards if not (index_path.parent / name).is_file()]
    if missing:
        raise CheckpointError(
            f"{index_path.parent}: {len(missing)} of {len(shards)} weight shards listed in {index_path.name} are "
            f"missing: {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}. Download the missing files into "
            f"this folder."
        )
    headers = [read_header(index_path.parent / name) for name in shards]
    for header in headers:
        listed = {k for k, v in weight_map.items() if v == header.path.name}
        absent = listed - set(header.tensors)
        if absent:
            how_many = "none of them is" if len(absent) == len(listed) else f"{len(absent)} of them are not"
            raise CheckpointError(
                f"{header.path}: the index lists {len(listed)} tensors in this shard but {how_many} in it (e.g. "
                f"{sorted(absent)[0]!r}); the shard and the index are from different downloads. Download both again."
            )
    return headers


def _from_folder(folder: Path) -> CheckpointSource:
    if (folder / "transformer").is_dir() and not (folder / "config.json").is_file():
        return _from_folder(folder / "transformer")  # the whole release folder was given
    config_path = folder / "config.json"
    config = _read_json(config_path) if config_path.is_file() else None
    if (folder / INDEX_NAME).is_file():
        headers = _from_index(folder / INDEX_NAME)
    elif (folder / WEIGHTS_NAME).is_file():
        headers = [read_header(folder / WEIGHTS_NAME)]
    else:
        candidates = sorted(folder.glob("*.safetensors"))
        if len(candidates) != 1:
            raise CheckpointError(
                f"{folder}: expected a RealisDance-DiT transformer folder (config.json with {WEIGHTS_NAME} or "
                f"{INDEX_NAME} and its shards), found "
                + (", ".join(p.name for p in candidates[:5]) or "no .safetensors file")
                + ". Point at the release's transformer/ folder or at one .safetensors file."
            )
        headers = [read_header(candidates[0])]
    return CheckpointSource(folder, headers, config, config_path if config else None)


def locate(path) -> CheckpointSource:
    """Resolve ``path`` (release folder, transformer folder, index file or single file) to its weight files."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder. Check the path or download the model.")
    if path.is_dir():
        return _from_folder(path)
    if path.name.endswith(".index.json"):
        config_path = path.parent / "config.json"
        config = _read_json(config_path) if config_path.is_file() else None
        return CheckpointSource(path.parent, _from_index(path), config, config_path if config else None)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return CheckpointSource(path, [read_header(path)])
    if suffix == ".gguf":
        raise CheckpointError(f"{path}: GGUF files are not supported yet; use a .safetensors file (bf16, fp16 or fp8).")
    if suffix in _PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: pickle checkpoints ({suffix}) are not loaded, because unpickling can run code; use the "
            f".safetensors release (or convert the file to safetensors)."
        )
    raise CheckpointError(f"{path}: unknown checkpoint format {suffix or '(no extension)'}; expected .safetensors.")
