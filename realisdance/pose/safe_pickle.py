"""A restricted unpickler for body-model files (SMPL-X ``.pkl``, MANO ``.pkl``) and the SMPL-CS colour table.

The official MANO pickles (and some SMPL-X ones) hold ``chumpy`` objects and ``scipy.sparse`` matrices. chumpy no
longer installs on current Python, and a plain ``pickle.load`` would run whatever code a file names. This unpickler
resolves only an allow-list of numpy globals; chumpy classes become :class:`ChumpyStub` and scipy sparse matrices
become :class:`SparseStub`, both turned into plain numpy arrays by :func:`to_numpy`. Anything else is refused.
"""

from __future__ import annotations

import codecs
import copyreg
import importlib
import io
import pickle
from typing import Any

import numpy as np


def _numpy_global(module_new: str, module_old: str, name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; files written by either version name one of the two.
    for module in (module_new, module_old):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {module_new}.{name}")


class ChumpyStub:
    """Stands in for any ``chumpy`` class; keeps the pickled state (a basic ``Ch`` stores its array as ``x``)."""

    chumpy_class = "chumpy.ch.Ch"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_numpy(self) -> np.ndarray:
        state = getattr(self, "state", None)
        if isinstance(state, dict) and "x" in state:
            return np.asarray(to_numpy(state["x"]))
        raise pickle.UnpicklingError(
            f"a {self.chumpy_class} object is a chumpy expression, not a stored array; convert the file with "
            "smplx's tools/clean_ch.py (needs chumpy) or use an .npz model"
        )


class SparseStub:
    """Stands in for a ``scipy.sparse`` csc/csr/coo matrix; densified by :meth:`to_numpy` (no scipy needed)."""

    sparse_format = "csc"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_numpy(self) -> np.ndarray:
        state = self.state
        shape = tuple(int(s) for s in state.get("_shape", state.get("shape", ())))
        if len(shape) != 2:
            raise pickle.UnpicklingError("sparse matrix without a 2-D shape")
        data = np.asarray(state["data"])
        dense = np.zeros(shape, dtype=data.dtype if data.dtype.kind == "f" else np.float64)
        if self.sparse_format in ("csc", "csr"):
            indptr = np.asarray(state["indptr"], dtype=np.int64)
            indices = np.asarray(state["indices"], dtype=np.int64)
            outer = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            rows, cols = (indices, outer) if self.sparse_format == "csc" else (outer, indices)
        else:  # coo: old scipy stores row/col, new scipy a coords tuple
            if "coords" in state:
                rows, cols = (np.asarray(c, dtype=np.int64) for c in state["coords"])
            else:
                rows, cols = np.asarray(state["row"], dtype=np.int64), np.asarray(state["col"], dtype=np.int64)
        np.add.at(dense, (rows, cols), data)  # add.at: duplicate entries sum, as in scipy
        return dense


def _chumpy_class(module: str, name: str) -> type:
    return type(name, (ChumpyStub,), {"chumpy_class": f"{module}.{name}"})


def _sparse_class(name: str) -> type:
    return type(name, (SparseStub,), {"sparse_format": name[:3]})


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
}
_NUMPY_NAMES = {("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer")}
_SPARSE_NAMES = {"csc_matrix", "csr_matrix", "coo_matrix"}


class BodyModelUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy arrays/dtypes, chumpy stubs and sparse stubs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        parts = module.split(".")
        if parts[0] == "numpy" and len(parts) == 3 and parts[1] in ("core", "_core"):
            if (parts[2], name) in _NUMPY_NAMES:
                return _numpy_global(f"numpy._core.{parts[2]}", f"numpy.core.{parts[2]}", name)
        if parts[0] == "chumpy":
            return _chumpy_class(module, name)
        if parts[0] == "scipy" and name in _SPARSE_NAMES:
            return _sparse_class(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a body-model file holds only arrays")


def safe_load(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`BodyModelUnpickler`; Python-2 pickles need latin1 for numpy's byte strings."""
    return BodyModelUnpickler(io.BytesIO(data), encoding="latin1").load()


def to_numpy(value: Any) -> Any:
    """Turn stubs (possibly nested in dicts/lists) into numpy arrays; leave other values as they are."""
    if isinstance(value, ChumpyStub | SparseStub):
        return value.to_numpy()
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_numpy(item) for item in value)
    return value
