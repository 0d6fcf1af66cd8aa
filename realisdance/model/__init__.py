"""The RealisDance-DiT transformer, its shifted RoPE and named configurations."""

from .configs import NAMED_CONFIGS, RELEASE_ROPE_FLAGS, is_i2v, named_config
from .rope import RopeShift, ShiftedRotaryEmbedding
from .transformer import TEXT_TOKENS, RealisDanceTransformer

__all__ = [
    "NAMED_CONFIGS",
    "RELEASE_ROPE_FLAGS",
    "TEXT_TOKENS",
    "RealisDanceTransformer",
    "RopeShift",
    "ShiftedRotaryEmbedding",
    "build_transformer",
    "is_i2v",
    "named_config",
]


def build_transformer(config: dict, device=None, dtype=None) -> RealisDanceTransformer:
    """A randomly initialised transformer from a config dict (a named config or a release config.json)."""
    import torch

    known = set(RealisDanceTransformer._get_init_keys(RealisDanceTransformer))
    kwargs = {k: v for k, v in config.items() if k in known and k != "self"}
    with torch.device(device or "cpu"):
        model = RealisDanceTransformer(**kwargs)
    if dtype is not None:
        keep_fp32 = set(model._keep_in_fp32_modules)
        for name, param in model.named_parameters():
            # The release keeps timestep embedding, modulation tables and norms in fp32 whatever the model dtype.
            fp32 = any(part in keep_fp32 for part in name.split("."))
            param.data = param.data.to(torch.float32 if fp32 else dtype)
    return model.eval().requires_grad_(False)
