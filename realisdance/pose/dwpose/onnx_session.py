"""onnxruntime sessions for the DWPose models: provider choice, opening errors, and the I/O signature.

CUDA is used when this onnxruntime build offers it (the ``onnxruntime-gpu`` wheel), else the CPU. The provider a
session really runs on is reported from the session itself, because onnxruntime silently falls back to the CPU
when the CUDA libraries it needs are missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CheckpointError, RealisDanceError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RealisDanceError(
            "DWPose needs onnxruntime: run `pip install onnxruntime-gpu` (NVIDIA GPU) or `pip install onnxruntime` "
            "(CPU only) in ComfyUI's Python environment, then restart."
        ) from exc
    return onnxruntime


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    """CUDA first when available (CPU kept as onnxruntime's fallback), else CPU only."""
    if available is None:
        available = import_onnxruntime().get_available_providers()
    return [CUDA, CPU] if CUDA in available else [CPU]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, shape (None for a dynamic axis) and onnxruntime type string."""

    name: str
    shape: tuple[int | None, ...]
    type: str

    def describe(self) -> str:
        dims = ", ".join("N" if d is None else str(d) for d in self.shape)
        return f"'{self.name}' ({dims})"


@dataclass
class OnnxModel:
    """An open session with its signature; ``run`` feeds the single input."""

    path: Path
    session: Any
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    @property
    def input_dtype(self) -> type:
        return _NUMPY_TYPES.get(self.inputs[0].type, np.float32)

    @property
    def max_batch(self) -> int | None:
        """The fixed batch size of the input, or None when the batch axis is dynamic."""
        return self.inputs[0].shape[0]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        feeds = {self.inputs[0].name: np.ascontiguousarray(batch, dtype=self.input_dtype)}
        outputs = self.session.run([spec.name for spec in self.outputs], feeds)
        return [np.asarray(out, dtype=np.float32) for out in outputs]


def open_onnx_model(path: Path, what: str, get_it: str, providers: Sequence[str] | None = None) -> OnnxModel:
    """Open ``path``; a file onnxruntime cannot load becomes a CheckpointError naming it."""
    ort = import_onnxruntime()
    providers = list(providers) if providers is not None else choose_providers(ort.get_available_providers())
    options = ort.SessionOptions()
    options.log_severity_level = 3  # keep ComfyUI's console free of onnxruntime's graph-optimisation notes
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind classes (InvalidProtobuf, Fail, ...)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} could not be opened as the {what} ONNX file ({first_line}). It may be truncated or another "
            f"kind of file; {get_it}"
        ) from exc
    return OnnxModel(
        path=path,
        session=session,
        inputs=tuple(_spec(node) for node in session.get_inputs()),
        outputs=tuple(_spec(node) for node in session.get_outputs()),
    )


def _spec(node: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (node.shape or ()))
    return TensorSpec(name=node.name, shape=shape, type=node.type)


def run_batched(model: OnnxModel, batch: np.ndarray, preferred: int) -> list[np.ndarray]:
    """Run ``batch`` in chunks the model accepts (its fixed batch size, else ``preferred``) and re-join."""
    chunk = model.max_batch or max(1, preferred)
    pieces = [model.run(batch[start : start + chunk]) for start in range(0, len(batch), chunk)]
    return [np.concatenate([piece[k] for piece in pieces]) for k in range(len(pieces[0]))]
