"""A loaded transformer plus how it was loaded, and the attention backend choice.

``ModelHandle`` is what travels between the loader and the sampler (the ComfyUI ``REALISDANCE_MODEL`` type and the
command line alike): a small immutable record, so a downstream step can read the settings without guessing them
from the weights.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import load_transformer
from .errors import InputError
from .model.precision import DTYPE_NAMES

# Our user-facing names -> diffusers' attention backend names (diffusers.models.attention_dispatch).
ATTENTION_BACKENDS = {"sdpa": "native", "sage": "sage", "flash": "flash", "xformers": "xformers"}
# The package each optional backend needs; a backend is offered only when its package is installed.
_BACKEND_PACKAGES = {"sage": "sageattention", "flash": "flash_attn", "xformers": "xformers"}


@dataclass(frozen=True)
class ModelHandle:
    """A loaded RealisDance-DiT transformer and the settings it was loaded with."""

    transformer: torch.nn.Module
    path: str
    dtype: str  # storage precision of the transformer blocks: fp32, bf16, fp16, fp8_e4m3fn or fp8_e5m2
    attention: str  # one of ATTENTION_BACKENDS


def available_attention() -> list[str]:
    """'sdpa' (always) plus every optional backend whose package is installed, in a stable order."""
    # find_spec, not import: importing flash_attn / sageattention initialises CUDA code just to fill a menu.
    return ["sdpa"] + [name for name, package in _BACKEND_PACKAGES.items() if _installed(package)]


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def check_attention(attention: str) -> None:
    """Refuse an unknown backend or one whose package is missing (before any weight is read)."""
    if attention not in ATTENTION_BACKENDS:
        raise InputError(f"unknown attention backend {attention!r}; choose one of {', '.join(available_attention())}")
    package = _BACKEND_PACKAGES.get(attention)
    if package is not None and not _installed(package):
        raise InputError(
            f"attention backend '{attention}' needs the '{package}' package, which is not installed; install it or "
            f"choose 'sdpa'."
        )


def set_attention(model: torch.nn.Module, attention: str) -> None:
    """Select the attention kernel of every attention layer of ``model``.

    Always set explicitly, sdpa included: diffusers falls back to a process-wide "active" backend for layers that
    have none, so a model loaded with 'sdpa' after one loaded with 'sage' would otherwise silently run sage.
    """
    check_attention(attention)
    # diffusers warns that attention backends are experimental on every call: once per load is noise, not news.
    modeling_logger = logging.getLogger("diffusers.models.modeling_utils")
    level = modeling_logger.level
    modeling_logger.setLevel(logging.ERROR)
    try:
        model.set_attention_backend(ATTENTION_BACKENDS[attention])
    except (RuntimeError, ValueError, ImportError) as err:
        # e.g. the package is present but too old, or built for another GPU / CUDA version.
        raise InputError(f"attention backend '{attention}' cannot be used here ({err}). Choose 'sdpa'.") from err
    finally:
        modeling_logger.setLevel(level)


def storage_dtype_name(model: torch.nn.Module) -> str:
    """The precision the transformer blocks are stored in (fp32-kept norms and modulation tables aside)."""
    counts: dict[torch.dtype, int] = {}
    for param in model.parameters():
        counts[param.dtype] = counts.get(param.dtype, 0) + param.numel()
    dominant = max(counts, key=counts.get) if counts else torch.float32
    return DTYPE_NAMES.get(dominant, str(dominant).removeprefix("torch."))


def load_model(
    path: str | Path,
    dtype: str = "auto",
    attention: str = "sdpa",
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> ModelHandle:
    """Load the transformer (see ``realisdance.checkpoints.load_transformer``) and select its attention backend."""

    check_attention(attention)  # fail before minutes of loading, not after
    transformer = load_transformer(path, dtype=dtype, device=device, progress=progress)
    set_attention(transformer, attention)
    return ModelHandle(transformer, str(path), storage_dtype_name(transformer), attention)
