"""Any RealisDance-DiT checkpoint -> a native ComfyUI MODEL (a ModelPatcher around ``RealisDanceWan``).

The files are found and checked by the core (``realisdance.checkpoints``: release folder, ``transformer/`` folder,
shard index or one file; diffusers, original-Wan or ComfyUI naming), renamed to the original-Wan names ComfyUI's
Wan uses, and handed to the host's own ``load_diffusion_model_state_dict``: dtype choice, fp8 and scaled-fp8
handling, manual casting and the patcher are the host's. What only a release folder knows is applied afterwards:
the RoPE shift flags of ``transformer/config.json`` and the flow shift of ``scheduler/scheduler_config.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from realisdance.checkpoints.keymap import detect_naming, diffusers_to_wan, strip_prefix
from realisdance.checkpoints.loader import require_realisdance
from realisdance.checkpoints.sources import locate
from realisdance.encoders.scheduler import load_scheduler, scheduler_shift
from realisdance.errors import CheckpointError
from realisdance.model.configs import RELEASE_ROPE_FLAGS
from realisdance.model.rope import RopeShift

from .. import host
from .model_base import register

logger = logging.getLogger(__name__)

# Stale I2V keys of the diffusers conversion, which the release's class ignores as well.
_IGNORED_SUFFIXES = (".norm_added_q.weight", ".norm_added_q.bias")

# weight_dtype choices, as ComfyUI's "Load Diffusion Model" names them -> model_options.
WEIGHT_DTYPES: dict[str, dict] = {
    "default": {},
    "fp8_e4m3fn": {"dtype": torch.float8_e4m3fn},
    "fp8_e4m3fn_fast": {"dtype": torch.float8_e4m3fn, "fp8_optimizations": True},
    "fp8_e5m2": {"dtype": torch.float8_e5m2},
    "bf16": {"dtype": torch.bfloat16},
    "fp16": {"dtype": torch.float16},
    "fp32": {"dtype": torch.float32},
}


def _original_names(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stored names -> the original-Wan names of ComfyUI's Wan (no copies: the tensors are the same objects)."""
    prefix, stripped = strip_prefix(tensors)
    naming = detect_naming(stripped)
    rename = diffusers_to_wan if naming == "diffusers" else (lambda name: name)
    out = {}
    for name, stored in stripped.items():
        if name.endswith(_IGNORED_SUFFIXES):
            continue
        out[rename(name)] = tensors[stored]
    for name in tensors:  # dotless markers (ComfyUI's "scaled_fp8") live outside the prefix; keep them
        if "." not in name and name not in out:
            out[name] = tensors[name]
    return out


def read_state_dict(path) -> tuple[dict[str, torch.Tensor], dict | None, object]:
    """The checkpoint's tensors in original-Wan naming, its metadata (single files) and its ``CheckpointSource``."""
    source = locate(path)
    tensors: dict[str, torch.Tensor] = {}
    metadata = None
    for header in source.headers:
        loaded, metadata = host.load_torch_file(header.path)
        tensors.update(loaded)
    if detect_naming(strip_prefix(tensors)[1]) == "unknown":
        raise CheckpointError(
            f"{source.path}: these tensors are not a Wan 2.1 DiT (no 'head.head' / 'proj_out' weights). Is this a "
            "VAE, text encoder or LoRA file?"
        )
    state_dict = _original_names(tensors)
    require_realisdance(source, state_dict)
    return state_dict, (metadata if len(source.headers) == 1 else None), source


def _rope_shift(config: dict | None) -> RopeShift:
    flags = {**RELEASE_ROPE_FLAGS, **{k: v for k, v in (config or {}).items() if k in RELEASE_ROPE_FLAGS}}
    return RopeShift(frame=bool(flags["shift_f"]), height=bool(flags["shift_h"]), width=bool(flags["shift_w"]))


def _folder_shift(source) -> float | None:
    """The flow shift of the release folder's scheduler config, when the checkpoint came with one."""
    transformer_folder = Path(source.config_path).parent if source.config_path else None
    if transformer_folder is None or not (transformer_folder.parent / "scheduler").is_dir():
        return None
    return scheduler_shift(load_scheduler(transformer_folder.parent))


def load_native_model(path, weight_dtype: str = "default"):
    """A MODEL for ComfyUI's samplers from any RealisDance-DiT checkpoint."""
    if weight_dtype not in WEIGHT_DTYPES:
        raise CheckpointError(f"unknown weight dtype {weight_dtype!r}; use one of {', '.join(WEIGHT_DTYPES)}.")
    register()
    host.throw_if_interrupted()  # Cancel pressed as the node started: before gigabytes are read
    state_dict, metadata, source = read_state_dict(path)
    options = dict(WEIGHT_DTYPES[weight_dtype])
    patcher = host.load_diffusion_model_state_dict(state_dict, options, metadata)
    if patcher is None:
        raise CheckpointError(f"{source.path}: ComfyUI could not recognise this Wan 2.1 checkpoint.")
    model = patcher.model
    model.diffusion_model.rope_shift = _rope_shift(source.config)
    shift = _folder_shift(source)
    if shift is not None:
        model.model_sampling.set_parameters(shift=shift)
    return patcher
