"""Double of ``comfy_api.latest``: ``io``, ``ui`` and ``ComfyExtension``."""

from __future__ import annotations

from abc import ABC, abstractmethod

from . import latest_io as io
from . import latest_ui as ui

IO = io
UI = ui


class ComfyExtension(ABC):
    async def on_load(self) -> None:  # noqa: B027 (optional hook, empty by design)
        """Called once after the pack is imported, before get_node_list."""

    @abstractmethod
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        """The node classes the pack provides."""


__all__ = ["IO", "UI", "ComfyExtension", "io", "ui"]
