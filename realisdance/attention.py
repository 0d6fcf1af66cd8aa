"""The attention kernel choice: our user-facing names, which are installed, and selecting one on a model.

The DiT runs diffusers' attention dispatch; a backend is offered only when its package is installed, and a model's
layers always get an explicit backend (diffusers would otherwise fall back to a process-wide one).
"""

from __future__ import annotations

import importlib.util
import logging

import torch

from .errors import InputError

# Our user-facing names -> diffusers' attention backend names (diffusers.models.attention_dispatch).
ATTENTION_BACKENDS = {"sdpa": "native", "sage": "sage", "flash": "flash", "xformers": "xformers"}
# The package each optional backend needs; a backend is offered only when its package is installed.
_BACKEND_PACKAGES = {"sage": "sageattention", "flash": "flash_attn", "xformers": "xformers"}


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
