"""Reading and checking the arrays of user-supplied body-model files (``.npz`` or ``.pkl``).

Shared by the SMPL-X and MANO loaders: every problem becomes a :class:`CheckpointError` that names the file,
what is wrong with it and what to do, instead of a KeyError or a reshape failure deep inside posing.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..unpickling import unreadable
from .safe_pickle import safe_load, to_numpy


def find_model_file(
    location: str | Path, subfolder: str, stems: Sequence[str], suffixes: Sequence[str], what: str, get_it: str
) -> Path:
    """Resolve ``location`` (a file, or a body-model folder) to a model file.

    In a folder, ``<folder>/<subfolder>/<stem><suffix>`` is preferred (the ``smplx`` package layout, e.g.
    ``body_models/smplx/SMPLX_NEUTRAL.npz``), then ``<folder>/<stem><suffix>``.
    """
    location = Path(location).expanduser()
    if location.is_file():
        return location
    if location.suffix.lower() in {suffix.lower() for suffix in suffixes}:
        raise CheckpointError(f"{what} file not found: {location}. {get_it}")
    candidates = [location / subfolder / f"{stem}{suffix}" for stem in stems for suffix in suffixes]
    candidates += [location / f"{stem}{suffix}" for stem in stems for suffix in suffixes]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = " or ".join(f"{stem}{suffix}" for stem in stems for suffix in suffixes)
    where = f"folder {location}" if location.is_dir() else f"{location} (which does not exist)"
    raise CheckpointError(
        f"{what} not found: looked for {names} in {where} and its '{subfolder}/' subfolder. {get_it} "
        f"Put the file at {location / subfolder / (stems[0] + suffixes[0])}."
    )


def read_model_arrays(path: Path, what: str) -> dict[str, Any]:
    """All entries of an ``.npz`` archive or a (chumpy-free or chumpy) ``.pkl`` dict, as numpy arrays."""
    try:
        if path.suffix.lower() == ".npz":
            # allow_pickle=False: real files carry a few object entries (joint2num, part2num) we never read;
            # numeric entries load lazily and safely one by one.
            with np.load(path, allow_pickle=False) as archive:
                return {key: _read_npz_entry(archive, key) for key in archive.files}
        data = safe_load(path.read_bytes())
    except CheckpointError:
        raise
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise unreadable(path, what, exc, CheckpointError) from None
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not the dict of arrays of a {what} file.")
    try:
        return {str(key): to_numpy(value) for key, value in data.items()}
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: {exc}.") from exc


def _read_npz_entry(archive: Any, key: str) -> Any:
    try:
        return archive[key]
    except ValueError:
        return None  # an object entry (metadata such as joint2num); never needed


def require_keys(arrays: Mapping[str, Any], keys: Sequence[str], path: Path, what: str) -> None:
    missing = [key for key in keys if arrays.get(key) is None]
    if missing:
        raise CheckpointError(
            f"{path} is not a {what} file: it lacks {', '.join(missing)}. Use the official file "
            f"(found keys: {', '.join(sorted(arrays)[:20])})."
        )


def float_array(
    arrays: Mapping[str, Any], key: str, shape: Sequence[int | None], path: Path, what: str, hint: str = ""
) -> np.ndarray:
    """``arrays[key]`` as float32, checked against ``shape`` (None: any size)."""
    value = np.asarray(arrays[key])
    if value.dtype.kind not in "fiu":
        raise CheckpointError(f"{path}: '{key}' of the {what} file is not numeric ({value.dtype}).")
    mismatch = value.ndim != len(shape) or any(
        want is not None and have != want for have, want in zip(value.shape, shape, strict=True)
    )
    if mismatch:
        wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise CheckpointError(
            f"{path}: '{key}' has shape {tuple(value.shape)}, a {what} file has {wanted}. {hint}".rstrip()
        )
    return np.ascontiguousarray(value, dtype=np.float32)


def faces_array(arrays: Mapping[str, Any], num_vertices: int, path: Path, what: str) -> np.ndarray:
    faces = np.asarray(arrays["f"])
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise CheckpointError(f"{path}: faces 'f' must be (N, 3) integers, got {faces.shape} {faces.dtype}.")
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
        raise CheckpointError(f"{path}: faces of the {what} file index vertices outside 0..{num_vertices - 1}.")
    return faces


def parents_from_kintree(kintree: Any, num_joints: int, path: Path, what: str) -> np.ndarray:
    """Row 0 of ``kintree_table`` (2, J) as parents; the root's entry (stored as 2**32-1 or -1) becomes -1."""
    table = np.asarray(kintree)
    if table.ndim != 2 or table.shape != (2, num_joints):
        raise CheckpointError(f"{path}: 'kintree_table' has shape {table.shape}, a {what} file has (2, {num_joints}).")
    parents = table[0].astype(np.int64)
    parents[0] = -1
    bad = [j for j in range(1, num_joints) if not 0 <= parents[j] < j]
    if bad:
        raise CheckpointError(
            f"{path}: the kinematic tree of the {what} file is not in parent-before-child order (joints {bad[:5]})."
        )
    return parents
