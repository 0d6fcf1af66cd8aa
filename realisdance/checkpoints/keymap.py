"""Parameter names: diffusers (the official folder) <-> original Wan / ComfyUI single files.

The official release uses diffusers names. Wan's own checkpoints, ComfyUI's ``diffusion_models`` files and most
single-file community conversions use original-Wan names, with a ``model.diffusion_model.`` prefix in ComfyUI
files. The three RealisDance modules keep their names in every layout.
"""

from __future__ import annotations

import re

COMFYUI_PREFIX = "model.diffusion_model."
_STRIPPABLE_PREFIXES = (COMFYUI_PREFIX, "diffusion_model.")

# (original Wan, diffusers) names of modules outside the blocks.
_TOP_LEVEL = [
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("img_emb.proj.0", "condition_embedder.image_embedder.norm1"),
    ("img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"),
    ("img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"),
    ("img_emb.proj.4", "condition_embedder.image_embedder.norm2"),
    ("img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"),
    ("head.head", "proj_out"),
    ("head.modulation", "scale_shift_table"),
]

# (original Wan, diffusers) names of modules inside ``blocks.N``. Wan calls the cross-attention's affine LayerNorm
# ``norm3``; diffusers calls it ``norm2`` (and Wan's ``norm2`` is diffusers' ``norm3``, the FFN pre-norm, which has
# no parameters).
_ATTENTION = [
    ("q", "to_q"),
    ("k", "to_k"),
    ("v", "to_v"),
    ("o", "to_out.0"),
    ("norm_q", "norm_q"),
    ("norm_k", "norm_k"),
]
_IMAGE_ATTENTION = [("k_img", "add_k_proj"), ("v_img", "add_v_proj"), ("norm_k_img", "norm_added_k")]
_IN_BLOCK = [
    *[(f"self_attn.{w}", f"attn1.{d}") for w, d in _ATTENTION],
    *[(f"cross_attn.{w}", f"attn2.{d}") for w, d in _ATTENTION + _IMAGE_ATTENTION],
    ("norm3", "norm2"),
    ("norm2", "norm3"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    ("modulation", "scale_shift_table"),
]

_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(.+)$")


def _rename(name: str, table: list[tuple[str, str]], reverse: bool) -> str:
    """Rename ``module.param`` using the longest matching module prefix of ``table``."""
    pairs = [(d, w) for w, d in table] if reverse else table
    for source, target in sorted(pairs, key=lambda pair: -len(pair[0])):
        if name == source or name.startswith(source + "."):
            return target + name[len(source) :]
    return name


def wan_to_diffusers(name: str) -> str:
    """Original-Wan parameter name -> diffusers name (names already in diffusers form pass through)."""
    match = _BLOCK_KEY.match(name)
    if match:
        return f"blocks.{match.group(1)}." + _rename(match.group(2), _IN_BLOCK, reverse=False)
    return _rename(name, _TOP_LEVEL, reverse=False)


def diffusers_to_wan(name: str) -> str:
    """diffusers parameter name -> original-Wan name."""
    match = _BLOCK_KEY.match(name)
    if match:
        return f"blocks.{match.group(1)}." + _rename(match.group(2), _IN_BLOCK, reverse=True)
    return _rename(name, _TOP_LEVEL, reverse=True)


def strip_prefix(names) -> tuple[str, dict[str, str]]:
    """Detect a common wrapper prefix (ComfyUI's ``model.diffusion_model.``) and map stripped -> stored names."""
    names = list(names)
    for prefix in _STRIPPABLE_PREFIXES:
        # Dotless markers such as ComfyUI's "scaled_fp8" sit outside the prefix.
        if names and all(n.startswith(prefix) for n in names if "." in n):
            return prefix, {n[len(prefix) :]: n for n in names if n.startswith(prefix)}
    return "", {n: n for n in names}


def detect_naming(names) -> str:
    """'wan' or 'diffusers', from marker parameters present in every Wan 2.1 DiT."""
    names = set(names)
    if "head.head.weight" in names or any(".self_attn." in n for n in names):
        return "wan"
    if "proj_out.weight" in names or any(".attn1." in n for n in names):
        return "diffusers"
    return "unknown"
