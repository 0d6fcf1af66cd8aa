"""Rebuild a transformer config from tensor shapes (single files carry no config.json)."""

from __future__ import annotations

import json
import math
import re

from ..errors import CheckpointError
from ..model.configs import RELEASE_ROPE_FLAGS, named_config

HEAD_DIM = 128  # every Wan 2.1 DiT uses 128-channel heads
CONFIG_METADATA_KEY = "realisdance_config"  # our single files store their config here


def infer_config(shapes: dict[str, tuple[int, ...]], where: str, metadata: dict | None = None) -> dict:
    """Config dict from diffusers-named ``shapes``; an embedded config in ``metadata`` wins where present."""
    if metadata and CONFIG_METADATA_KEY in metadata:
        try:
            return json.loads(metadata[CONFIG_METADATA_KEY])
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{where}: its embedded config is corrupt ({err}).") from err

    def shape(name: str) -> tuple[int, ...]:
        if name not in shapes:
            raise CheckpointError(f"{where}: tensor {name!r} is missing, so this is not a complete Wan 2.1 DiT.")
        return shapes[name]

    inner_dim, in_channels, *patch = shape("patch_embedding.weight")
    if inner_dim % HEAD_DIM:
        raise CheckpointError(f"{where}: model width {inner_dim} is not a multiple of {HEAD_DIM}; not a Wan 2.1 DiT.")
    blocks = {int(m.group(1)) for n in shapes if (m := re.match(r"blocks\.(\d+)\.", n))}
    config = named_config("14B-I2V")  # defaults for keys no shape tells (eps, qk_norm, rope table length)
    config.update(
        patch_size=list(patch),
        num_attention_heads=inner_dim // HEAD_DIM,
        attention_head_dim=HEAD_DIM,
        in_channels=in_channels,
        out_channels=shape("proj_out.weight")[0] // math.prod(patch),
        text_dim=shape("condition_embedder.text_embedder.linear_1.weight")[1],
        freq_dim=shape("condition_embedder.time_embedder.linear_1.weight")[1],
        ffn_dim=shape("blocks.0.ffn.net.0.proj.weight")[0],
        num_layers=len(blocks),
        cross_attn_norm="blocks.0.norm2.weight" in shapes,
        image_dim=shapes.get("condition_embedder.image_embedder.norm1.weight", (None,))[0],
        added_kv_proj_dim=shapes.get("blocks.0.attn2.add_k_proj.weight", (None, None))[1],
        pos_embed_seq_len=shapes.get("condition_embedder.image_embedder.pos_embed", (None, None))[1],
        **RELEASE_ROPE_FLAGS,
    )
    if "add_conv_in.weight" in shapes:
        config["add_cond_in_dim"] = shapes["add_conv_in.weight"][1]
    if "attn_conv_in.weight" in shapes:
        config["attn_cond_in_dim"] = shapes["attn_conv_in.weight"][1]
    return config
