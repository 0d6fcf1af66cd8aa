"""Fixtures shared by the tests (helpers live in ``helpers.py``: two conftest modules cannot share a name)."""

from __future__ import annotations

import pytest
import torch
from helpers import randomize_

from realisdance.model import build_transformer, named_config


@pytest.fixture
def tiny_model():
    """A tiny random transformer of the requested variant ('I2V' or 'T2V') with all weights random."""

    def make(variant: str = "I2V", seed: int = 0, **overrides):
        torch.manual_seed(seed)
        return randomize_(build_transformer(named_config(f"tiny-{variant}", **overrides)), seed)

    return make
