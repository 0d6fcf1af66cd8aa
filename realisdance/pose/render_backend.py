"""The rasterizer interface the condition renderers draw through, and the registry of implementations.

A backend turns one camera-space triangle mesh with per-vertex attributes into per-pixel interpolated
attributes and a depth buffer. Shading happens afterwards in torch (:mod:`.shading`), identically for every
backend, so a backend only has to agree on coverage, depth and perspective-correct interpolation. The pure torch
rasterizer (:mod:`.raster_torch`) is always available and is the test oracle; the OpenGL one (:mod:`.raster_gl`,
"gl") needs the optional moderngl package. Other backends register themselves with :func:`register_backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from ..errors import InputError
from .raster_image import RasterImage


@runtime_checkable
class RasterBackend(Protocol):
    """Rasterizes a mesh seen by a pinhole camera (OpenCV frame; pixel centres at +0.5, see :mod:`.camera`).

    vertices (V, 3) camera space; faces (F, 3) long; attributes (V, C) float; intrinsics (3, 3).
    Both faces orientations are drawn (no back-face culling, as in the reference pipeline); triangles with a
    vertex in front of the near plane are dropped; depth test keeps the nearest surface.
    """

    name: str

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        attributes: torch.Tensor,
        intrinsics: torch.Tensor,
        width: int,
        height: int,
    ) -> RasterImage: ...


_FACTORIES: dict[str, Callable[[], RasterBackend]] = {}
DEFAULT_BACKEND = "torch"


def register_backend(name: str, factory: Callable[[], RasterBackend]) -> None:
    """Make ``factory`` available as backend ``name`` (a factory may raise if its library is missing)."""
    _FACTORIES[name] = factory


def available_backends() -> list[str]:
    _register_builtin()
    return sorted(_FACTORIES)


def get_backend(backend: str | RasterBackend | None = None) -> RasterBackend:
    """A backend instance by name (None: the default), or ``backend`` itself if it already is one.

    "auto" picks "gl" when moderngl and an OpenGL context are available, else "torch".
    """
    _register_builtin()
    if backend is None:
        backend = DEFAULT_BACKEND
    if backend == "auto":
        try:
            return _FACTORIES["gl"]()
        except InputError:
            return _FACTORIES["torch"]()
    if not isinstance(backend, str):
        if not isinstance(backend, RasterBackend):
            raise InputError(f"{type(backend).__name__} is not a rasterizer backend (needs .name and .rasterize).")
        return backend
    if backend not in _FACTORIES:
        raise InputError(f"Unknown render backend '{backend}'; available: {', '.join(sorted(_FACTORIES))}.")
    return _FACTORIES[backend]()


def _register_builtin() -> None:
    if "torch" not in _FACTORIES:
        # Local imports: both modules import this one. The GL factory fails (InputError) only when called.
        from .raster_gl import shared_gl_rasterizer
        from .raster_torch import TorchRasterizer

        register_backend("torch", TorchRasterizer)
        register_backend("gl", shared_gl_rasterizer)
