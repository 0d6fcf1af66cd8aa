"""What RealisDanceTransformer reads of diffusers' WanTransformer3DModel beyond its public API, checked once.

Our forward re-runs diffusers' Wan pieces in our own order (reference tokens, pose tokens, shifted RoPE), so it
reaches into the modules diffusers builds: the condition embedder and its text projection, the output modulation
table, the output norm and projection, the blocks' call signature and attention processors. diffusers may rename
these (its main branch already reworks some), so the transformer checks them when it is built and fails with one
sentence naming the tested diffusers range instead of a deep AttributeError in the first forward.
"""

from __future__ import annotations

from ..errors import RealisDanceError

# The diffusers releases CI installs and tests (keep in step with requirements.txt and pyproject.toml).
TESTED_DIFFUSERS = ">=0.42.1,<0.43"

# Attribute paths on WanTransformer3DModel (after its __init__) that our forward and loaders use.
REQUIRED_PATHS = (
    "patch_embedding",
    "condition_embedder.text_embedder.linear_1",
    "condition_embedder.time_embedder",
    "condition_embedder.time_proj",
    "scale_shift_table",
    "norm_out",
    "proj_out",
    "blocks.0.attn1.processor",
    "blocks.0.attn2",
    "blocks.0.scale_shift_table",
    "blocks.0.ffn",
)


class DiffusersLayoutError(RealisDanceError):
    """The installed diffusers builds the Wan transformer differently from the versions we test."""


def check_diffusers_layout(model) -> None:
    """Refuse, in one sentence, a diffusers whose Wan transformer lacks a module we read."""
    import diffusers

    for path in REQUIRED_PATHS:
        value = model
        for part in path.split("."):
            value = value[int(part)] if part.isdigit() and hasattr(value, "__getitem__") else getattr(value, part, None)
            if value is None:
                raise DiffusersLayoutError(
                    f"diffusers {diffusers.__version__} builds the Wan transformer without '{path}', which "
                    f"RealisDance-DiT runs; install a tested diffusers: pip install 'diffusers{TESTED_DIFFUSERS}'"
                )
