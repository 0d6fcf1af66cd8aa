"""Read a LoRA file into per-parameter updates named as this transformer names its parameters.

Formats met in the field for Wan 2.1 (key examples for the first block's self-attention query):
- diffusers / PEFT: ``transformer.blocks.0.attn1.to_q.lora_A.weight`` / ``lora_B.weight`` (``.default.`` infix,
  ``base_model.model.`` prefix and ``lora_B.bias`` seen too);
- original Wan / ComfyUI: ``diffusion_model.blocks.0.self_attn.q.lora_down.weight`` / ``lora_up.weight`` / ``alpha``
  (or ``lora_A`` / ``lora_B``), with full deltas ``.diff`` (weights, e.g. norms) and ``.diff_b`` (biases);
- kohya / musubi-tuner: ``lora_unet_blocks_0_self_attn_q.lora_down.weight`` (``lora_unet__`` in Wan-Fun files);
- lightx2v distill LoRAs: the ComfyUI form plus ``blocks.N.diff_m``, the full delta of the block's modulation.

diffusers' own Wan conversion (``_convert_non_diffusers_wan_lora_to_diffusers``) drops every ``.diff`` key other than
the output head's, so the lightx2v files would lose their norm and modulation deltas; the names are therefore mapped
here from the model's own parameter list (both naming schemes of every parameter, see ``checkpoints/keymap.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..checkpoints.keymap import diffusers_to_wan
from ..checkpoints.safetensors_file import SafetensorsReader, read_header
from ..errors import InputError

_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "base_model.model.", "transformer.", "model.")
_KOHYA = re.compile(r"^lora_unet_+")
# suffix -> (role, what it updates)
_SUFFIXES = {
    ".lora_down.weight": "down",
    ".lora_up.weight": "up",
    ".lora_A.weight": "down",
    ".lora_B.weight": "up",
    ".lora_A.default.weight": "down",
    ".lora_B.default.weight": "up",
    ".lora_B.bias": "diff_b",  # PEFT's lora_bias: a full bias delta
    ".alpha": "alpha",
    ".diff_b": "diff_b",
    ".diff": "diff",
    ".diff_m": "diff_modulation",  # lightx2v: blocks.N.diff_m is blocks.N.modulation's full delta
}


@dataclass
class ParameterUpdate:
    """What a LoRA changes in one module: a low-rank pair (down, up, alpha), a weight delta, a bias delta."""

    module: str  # this transformer's module name, e.g. "blocks.0.attn1.to_q" ("" for a bare parameter)
    down: torch.Tensor | None = None
    up: torch.Tensor | None = None
    alpha: float | None = None
    diff: torch.Tensor | None = None  # full delta of ``weight`` (or of ``parameter`` when set)
    diff_b: torch.Tensor | None = None  # full delta of ``bias``
    parameter: str | None = None  # a parameter that is not a module's weight (the blocks' scale_shift_table)
    keys: list[str] = field(default_factory=list)

    @property
    def scale(self) -> float:
        """alpha / rank when the file gives alpha (kohya, ComfyUI), else 1 (PEFT, lightx2v)."""
        if self.alpha is None or self.down is None:
            return 1.0
        return self.alpha / self.down.shape[0]


@dataclass
class LoraFile:
    path: Path
    updates: dict[str, ParameterUpdate]  # by module (or parameter) name

    @property
    def rank(self) -> int | None:
        ranks = {u.down.shape[0] for u in self.updates.values() if u.down is not None}
        return max(ranks) if ranks else None

    def nbytes(self) -> int:
        tensors = [t for u in self.updates.values() for t in (u.down, u.up, u.diff, u.diff_b) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)


def parameter_aliases(transformer: torch.nn.Module) -> dict[str, tuple[str, str | None]]:
    """Every name a LoRA may use for a module or parameter of ``transformer`` -> (module, bare parameter or None).

    Both schemes (diffusers and original Wan), and each with dots replaced by underscores (kohya).
    """
    aliases: dict[str, tuple[str, str | None]] = {}
    for name, _ in transformer.named_parameters():
        module, _, leaf = name.rpartition(".")
        if leaf in ("weight", "bias"):
            target, names = (module, None), (module, diffusers_to_wan(name).rpartition(".")[0])
        else:  # a parameter of its own (scale_shift_table): LoRA files name it like a module
            target, names = (module, name), (name, diffusers_to_wan(name))
        for alias in names:
            aliases.setdefault(alias, target)
            aliases.setdefault(alias.replace(".", "_"), target)
    return aliases


def _split(key: str) -> tuple[str, str] | None:
    """(module part, role) of a LoRA key; None when the key has no LoRA suffix."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    key = _KOHYA.sub("", key)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if key.endswith(suffix):
            return key[: -len(suffix)], _SUFFIXES[suffix]
    return None


def read_lora(path: str | Path, transformer: torch.nn.Module, shapes_only: bool = False) -> LoraFile:
    """Read a LoRA ``.safetensors`` file for ``transformer``; refuse keys that name nothing in it, with examples.

    ``shapes_only``: the tensors are meta tensors of the header's shapes (no data read, alpha left out), enough to
    check that the LoRA fits a model before the model or the LoRA's data is loaded.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"LoRA {path.name}: only .safetensors LoRA files are read (pickled files can run code)")
    header = read_header(path)
    aliases = parameter_aliases(transformer)
    updates: dict[str, ParameterUpdate] = {}
    unknown: list[str] = []
    with SafetensorsReader(header) as reader:
        for key in header.tensors:
            split = _split(key)
            if split is None:
                unknown.append(key)
                continue
            name, role = split
            if role == "diff_modulation":
                name, role = f"{name}.modulation", "diff"
            target = aliases.get(name)
            if target is None:
                unknown.append(key)
                continue
            module, parameter = target
            update = updates.setdefault(parameter or module, ParameterUpdate(module, parameter=parameter))
            if shapes_only:
                if role != "alpha":
                    setattr(update, role, torch.empty(header.tensors[key].shape, device="meta"))
            elif role == "alpha":
                update.alpha = float(reader.get(key).float().reshape(-1)[0])
            else:
                setattr(update, role, reader.get(key))
            update.keys.append(key)
    _check_matches(path, header.tensors, updates, unknown)
    return LoraFile(path, updates)


def _check_matches(path: Path, keys, updates: dict[str, ParameterUpdate], unknown: list[str]) -> None:
    if not keys:
        raise InputError(f"LoRA {path.name} holds no tensors")
    image = [key for key in unknown if "k_img" in key or "v_img" in key or "img_emb" in key]
    if image:
        raise InputError(
            f"LoRA {path.name} is an image-to-video LoRA (it changes {image[0]}) and this model has no CLIP image "
            "branch; use a text-to-video LoRA or the image-to-video model"
        )
    if not updates:
        raise InputError(
            f"LoRA {path.name}: none of its keys names a part of this RealisDance/Wan 2.1 transformer (for example "
            f"{', '.join(list(keys)[:3])}); is it a LoRA for another model family?"
        )
    if unknown:
        raise InputError(
            f"LoRA {path.name}: {len(unknown)} of its keys name nothing in this transformer, for example "
            f"{', '.join(unknown[:3])}"
        )
    for update in updates.values():
        if (update.down is None) != (update.up is None):
            missing = "lora_up / lora_B" if update.up is None else "lora_down / lora_A"
            raise InputError(f"LoRA {path.name}: {update.keys[0]} has no matching {missing} tensor (a damaged file)")
