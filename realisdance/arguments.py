"""Checks of the numbers and objects a caller passes, before anything heavy runs (one sentence each).

The command line and the Python API share them, so ``--steps 0`` and ``pipe(steps=0)`` fail alike: at once, naming
the argument, never as a numpy TypeError, an overflow deep in torch, or a black video from a NaN.
"""

from __future__ import annotations

import math
import numbers

import torch

from .errors import InputError

MAX_STEPS = 1000
MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed accepts
MIN_AREA = 16 * 16
MAX_AREA = 4096 * 4096  # 16.8 megapixels: past any Wan checkpoint's RoPE table and any GPU's memory


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name: str, low: int, high: int) -> int:
    if not _is_int(value):
        raise InputError(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
    if not low <= int(value) <= high:
        raise InputError(f"{name} must be from {low} to {high}; got {value}.")
    return int(value)


def check_steps(value) -> int:
    return check_int(value, "steps", 1, MAX_STEPS)


def check_seed(value) -> int:
    return check_int(value, "seed", 0, MAX_SEED)


def check_max_area(value) -> int:
    return check_int(value, "max_area (pixels)", MIN_AREA, MAX_AREA)


def check_guidance(value) -> float:
    """CFG scale: finite and >= 0 (values <= 1 run the conditional pass only, as the release's guidance 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InputError(f"guidance (CFG) must be a finite number >= 0; got {value!r}.")
    if float(value) < 0:
        raise InputError(f"guidance (CFG) must be >= 0 (1 = no guidance, the release uses 2); got {value}.")
    return float(value)


def check_prompt(value, name: str):
    if not isinstance(value, str | torch.Tensor):
        raise InputError(f"{name} must be a string (or text embeddings); got {type(value).__name__}.")
    return value


def check_generator(value) -> torch.Generator | None:
    if value is not None and not isinstance(value, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None; got {type(value).__name__}.")
    return value


def check_finite(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """Refuse NaN or infinite values: they would silently turn the whole video black or NaN."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise InputError(f"the {what} holds NaN or infinite values; pass finite numbers.")
    return tensor


def resolve_device(device) -> torch.device:
    """A torch device that exists here, or one sentence saying why not (and what to install)."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {device!r}; use 'cuda', 'cuda:N' or 'cpu'.") from None
    if resolved.type == "cuda":
        if torch.version.cuda is None:
            raise InputError(
                "--device cuda needs a CUDA build of torch, and this one is CPU-only "
                f"(torch {torch.__version__}); install the CUDA wheel for your GPU (see the README), or use cpu."
            )
        if not torch.cuda.is_available():
            raise InputError("torch was built with CUDA but sees no usable GPU (driver?); use --device cpu.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InputError(f"there is no {resolved}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    elif resolved.type not in ("cpu", "mps"):
        raise InputError(f"device {device!r} is not supported; use 'cuda' or 'cpu'.")
    return resolved
