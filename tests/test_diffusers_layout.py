"""The diffusers range we test, written in one place and installed; and the check that refuses a diffusers whose Wan
transformer lacks a module our forward reads, in one sentence, when the model is built."""

from __future__ import annotations

import re
from pathlib import Path

import diffusers
import pytest
from packaging.specifiers import SpecifierSet

from realisdance.model import build_transformer, named_config
from realisdance.model.diffusers_layout import TESTED_DIFFUSERS, DiffusersLayoutError, check_diffusers_layout

REPO = Path(__file__).resolve().parents[1]


def test_requirements_and_project_pin_the_tested_range_and_it_is_what_is_installed():
    for path in (REPO / "requirements.txt", REPO / "pyproject.toml"):
        (spec,) = re.findall(r"diffusers([<>=!~][^\s\"#]*)", path.read_text())
        assert SpecifierSet(spec) == SpecifierSet(TESTED_DIFFUSERS), path.name
    assert diffusers.__version__ in SpecifierSet(TESTED_DIFFUSERS)


def test_a_built_model_passes_and_a_missing_module_is_named_with_the_fix():
    model = build_transformer(named_config("tiny-I2V"))
    check_diffusers_layout(model)
    del model.scale_shift_table
    with pytest.raises(DiffusersLayoutError) as refused:
        check_diffusers_layout(model)
    message = str(refused.value)
    assert "'scale_shift_table'" in message and f"diffusers{TESTED_DIFFUSERS}" in message
    assert diffusers.__version__ in message
