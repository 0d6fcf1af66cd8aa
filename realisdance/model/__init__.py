"""The RealisDance-DiT transformer, its shifted RoPE and named configurations."""

from .configs import NAMED_CONFIGS, RELEASE_ROPE_FLAGS, is_i2v, named_config
from .precision import DTYPES, cast_keeping_fp32
from .rope import RopeShift, ShiftedRotaryEmbedding
from .strengths import RELEASE_STRENGTHS, ConditionStrengths, release_timestep
from .transformer import TEXT_TOKENS, RealisDanceTransformer

__all__ = [
    "DTYPES",
    "RELEASE_STRENGTHS",
    "ConditionStrengths",
    "NAMED_CONFIGS",
    "RELEASE_ROPE_FLAGS",
    "TEXT_TOKENS",
    "RealisDanceTransformer",
    "RopeShift",
    "ShiftedRotaryEmbedding",
    "build_transformer",
    "is_i2v",
    "named_config",
    "release_timestep",
]


def build_transformer(config: dict, device=None, dtype=None) -> RealisDanceTransformer:
    """A randomly initialised transformer from a config dict (a named config or a release config.json)."""
    import torch

    known = set(RealisDanceTransformer._get_init_keys(RealisDanceTransformer))
    kwargs = {k: v for k, v in config.items() if k in known and k != "self"}
    with torch.device(device or "cpu"):
        model = RealisDanceTransformer(**kwargs)
    if dtype is not None:
        cast_keeping_fp32(model, dtype)
    return model.eval().requires_grad_(False)
