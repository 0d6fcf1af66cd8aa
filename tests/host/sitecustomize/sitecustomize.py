"""Let a CUDA torchvision wheel import on a CPU-only torch (test harness for the real ComfyUI host only).

Every torchvision Linux wheel on PyPI is a CUDA build: its ``_C`` extension cannot load against the CPU torch wheel,
and ``import torchvision`` then fails while registering fake kernels for ``torchvision::nms`` / ``qnms`` ("operator
does not exist"). ComfyUI imports torchvision at start-up, so the host would not start. Defining the two op schemas
(no kernels) before torchvision's first import lets it import; only its C++ ops (nms, roi_align, video decoding)
stay unavailable, and ComfyUI's core does not use them.

The same holds for torchaudio (ComfyUI v0.28 imports it at start-up, in comfy/sd.py): its CUDA ``_torchaudio``
extension raises OSError on a CPU torch. When that happens the extension is reported as absent instead, as on a
build without it; torchaudio's pure-PyTorch functions (resample, spectrograms) keep working.

Put this folder on PYTHONPATH. Nothing happens until torchvision is imported, and nothing at all when torch has CUDA
or torchvision's extension does not link CUDA (then it loads and registers the ops itself). Another
``sitecustomize`` further down sys.path (e.g. the interpreter's own) is still run, since this file shadows it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

# Schemas as torchvision's C++ sources declare them.
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBRARY = None  # the torch.library fragment; it must stay referenced or its definitions are dropped


def _needs_schemas() -> bool:
    """True when torch is a CPU build and torchvision's extension links CUDA libraries (so it cannot load)."""
    import torch

    if torch.version.cuda is not None:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    package = spec.submodule_search_locations[0]
    for name in os.listdir(package):
        if name.startswith("_C.") and name.endswith((".so", ".pyd")):
            with open(os.path.join(package, name), "rb") as extension:
                return b"libc10_cuda" in extension.read()  # a needed library named in the dynamic section
    return False


def _define_schemas() -> None:
    global _LIBRARY
    import torch

    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        _LIBRARY.define(schema)


class _BeforeTorchvision:
    """A meta-path finder that acts once, on the first ``import torchvision``, then steps aside."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(cls)
            if _needs_schemas():
                _define_schemas()
        return None  # the normal finders import the real package


class _TolerantTorchaudioExtension:
    """On ``import torchaudio._extension.utils``: its ``_load_lib`` returns False when the library cannot load."""

    NAME = "torchaudio._extension.utils"

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != cls.NAME:
            return None
        sys.meta_path.remove(cls)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            load_lib = module._load_lib

            def tolerant_load_lib(lib):
                try:
                    return load_lib(lib)
                except OSError:
                    return False  # a CUDA extension on a CPU torch: behave as a build without it

            module._load_lib = tolerant_load_lib

        spec.loader.exec_module = exec_module
        return spec


def _run_shadowed_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if entry and os.path.abspath(entry) != here:
            spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [entry])
            if spec is not None and spec.loader is not None:
                spec.loader.exec_module(type(sys)("_shadowed_sitecustomize"))
                return


if "torchvision" not in sys.modules:
    sys.meta_path.insert(0, _BeforeTorchvision)
if "torchaudio" not in sys.modules:
    sys.meta_path.insert(0, _TolerantTorchaudioExtension)
if os.environ.get("REALISDANCE_TINY_ENCODERS"):
    import realisdance_tiny_host_encoders  # beside this file, on PYTHONPATH with it

    realisdance_tiny_host_encoders.install()
_run_shadowed_sitecustomize()
