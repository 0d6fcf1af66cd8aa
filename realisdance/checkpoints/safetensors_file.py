"""Reading safetensors files defensively.

The header is parsed by hand first so that a truncated download or a file of another format is reported with its
name and a sentence, before safetensors or torch fail with a low-level message.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from ..errors import CheckpointError

_MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class SafetensorsHeader:
    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]


def read_header(path: str | os.PathLike) -> SafetensorsHeader:
    """Parse and sanity-check a safetensors header without loading any tensor."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found. Check the path, or download the file again.")
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: the file is empty or truncated ({size} bytes); download it again.")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > _MAX_HEADER_BYTES or 8 + header_len > size:
                raise CheckpointError(
                    f"{path}: not a valid safetensors file (header length {header_len} does not fit in a file of "
                    f"{size} bytes). It is either truncated or not a safetensors file; download it again."
                )
            header = json.loads(handle.read(header_len))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: the safetensors header is corrupt ({err}); download the file again.") from err
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read the file ({err}).") from err

    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the safetensors header is not a JSON object; download the file again.")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: the safetensors metadata is not a JSON object; download the file again.")
    data_bytes = size - 8 - header_len
    tensors = {}
    for name, entry in header.items():
        try:
            start, end = (int(offset) for offset in entry["data_offsets"])
            shape = tuple(int(side) for side in entry["shape"])
            if not isinstance(entry["dtype"], str) or any(side < 0 for side in shape):
                raise ValueError("bad dtype or shape")
            tensors[name] = TensorInfo(entry["dtype"], shape)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(
                f"{path}: the safetensors header entry for {name!r} is corrupt; download the file again."
            ) from err
        if end > data_bytes or start > end:
            raise CheckpointError(
                f"{path}: the file is truncated: tensor {name!r} ends at byte {end} of the data section but only "
                f"{data_bytes} bytes are present. Download the file again."
            )
    return SafetensorsHeader(path, tensors, metadata)


class SafetensorsReader:
    """Loads tensors one at a time, so a file is never held in memory twice."""

    def __init__(self, header: SafetensorsHeader):
        self.header = header
        self._handle = None

    def __enter__(self):
        try:
            self._handle = safe_open(str(self.header.path), framework="pt", device="cpu")
        except Exception as err:  # safetensors raises its own error types; say which file it was
            raise CheckpointError(f"{self.header.path}: cannot open as safetensors ({err}).") from err
        return self

    def __exit__(self, *exc):
        self._handle = None
        return False

    def get(self, name: str):
        try:
            return self._handle.get_tensor(name)
        except Exception as err:
            raise CheckpointError(
                f"{self.header.path}: cannot read tensor {name!r} ({err}); the file may be corrupt."
            ) from err
