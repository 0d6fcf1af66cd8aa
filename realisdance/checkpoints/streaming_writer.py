"""Write a safetensors file one tensor at a time, so a 28 GB DiT converts on a machine with less memory than that.

``safetensors.torch.save_file`` needs every tensor in memory at once. The format is simple enough to stream: an
8-byte little-endian header length, the JSON header (names, dtypes, shapes, byte offsets), then the raw bytes in
offset order. The header is written first from the entries declared up front, so each tensor's dtype and shape must
be known before its bytes arrive; the writer checks that what arrives matches.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError

SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
    torch.uint8: "U8",
    torch.int64: "I64",
    torch.int32: "I32",
}


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        count = 1
        for side in self.shape:
            count *= side
        return count * torch.empty((), dtype=self.dtype).element_size()


def _header_bytes(entries: list[TensorEntry], metadata: dict[str, str] | None) -> bytes:
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for entry in entries:
        header[entry.name] = {
            "dtype": SAFETENSORS_DTYPES[entry.dtype],
            "shape": list(entry.shape),
            "data_offsets": [offset, offset + entry.nbytes],
        }
        offset += entry.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return raw + b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned, padded with spaces as the format says


def write_streamed(path, entries: list[TensorEntry], tensors, metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` (an iterable of (name, tensor) in the order of ``entries``) to ``path`` atomically."""
    path = Path(path)
    for entry in entries:
        if entry.dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"cannot store {entry.name} as {entry.dtype} in safetensors")
    header = _header_bytes(entries, metadata)
    partial = path.with_name(path.name + ".partial")
    expected = iter(entries)
    try:
        with open(partial, "wb") as handle:
            handle.write(struct.pack("<Q", len(header)))
            handle.write(header)
            for name, tensor in tensors:
                entry = next(expected, None)
                if (
                    entry is None
                    or entry.name != name
                    or tensor.dtype != entry.dtype
                    or tuple(tensor.shape) != (entry.shape)
                ):
                    raise CheckpointError(f"{path}: tensor {name} arrived out of its declared place, dtype or shape")
                data = tensor.detach().contiguous().cpu().reshape(-1)
                handle.write(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
            if next(expected, None) is not None:
                raise CheckpointError(f"{path}: fewer tensors arrived than were declared")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
