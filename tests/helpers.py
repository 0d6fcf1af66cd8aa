"""Helpers shared by the tests: tiny random-weight models, their inputs, and the shared demo data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test when the file is absent (a user's checkout has none)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared demo data not present: {path}")
    return path


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter (zero-initialised ones included) random values, so no path is silently inert."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return model


def random_transformer(config: dict, seed: int):
    """A core transformer with every module non-zero (``add_proj`` included): norm weights near 1, so signals keep
    their scale through the blocks, everything else small. Drawn from the global RNG after ``torch.manual_seed``."""
    from realisdance.model import RealisDanceTransformer

    torch.manual_seed(seed)
    model = RealisDanceTransformer(**config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            else:
                param.copy_(0.05 * torch.randn_like(param))
    return model


def tiny_inputs(model, frames: int = 3, height: int = 8, width: int = 12, reference=(4, 6), batch: int = 1, seed=0):
    """Random inputs matching ``model``'s config: latents, timesteps, text, CLIP, pose and reference latents."""
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "hidden_states": torch.randn(batch, cfg.in_channels, frames, height, width, generator=g),
        "timestep": torch.tensor([900.0, 250.0][:batch] if batch <= 2 else [500.0] * batch),
        "encoder_hidden_states": torch.randn(batch, 512, cfg.text_dim, generator=g),
        "encoder_hidden_states_image": (
            torch.randn(batch, 257, cfg.image_dim, generator=g) if cfg.image_dim is not None else None
        ),
        "add_cond": torch.randn(batch, cfg.add_cond_in_dim, frames, height, width, generator=g),
        "attn_cond": None,
    }
    if reference is not None:
        inputs["attn_cond"] = torch.randn(batch, cfg.attn_cond_in_dim, 1, *reference, generator=g)
    return inputs
