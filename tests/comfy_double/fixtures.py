"""pytest fixtures for the ComfyUI double (``comfy``, ``comfy_pack``).

A test module enables them with ``pytest_plugins = ["comfy_double.fixtures"]``.
"""

from __future__ import annotations

import pytest

from . import ComfyDouble, LoadedPack, install, uninstall


@pytest.fixture
def comfy(tmp_path) -> ComfyDouble:
    """The double installed in sys.modules, with a fresh ComfyUI folder layout under tmp_path/comfyui."""
    double = install(tmp_path / "comfyui")
    try:
        yield double
    finally:
        uninstall(double)


@pytest.fixture
def comfy_pack(comfy) -> LoadedPack:
    """This repository installed as custom_nodes/ComfyUI-RealisDance and loaded the way ComfyUI loads a pack."""
    return comfy.install_pack()
