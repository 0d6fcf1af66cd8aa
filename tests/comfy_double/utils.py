"""Double of ``comfy.utils``: ``ProgressBar`` and its global hook."""

from __future__ import annotations

from collections.abc import Callable

PROGRESS_BAR_HOOK: Callable | None = None
EXECUTING_NODE: str | None = None  # set by the graph runner; the host reads it from its executing context


def set_progress_bar_global_hook(function: Callable | None) -> None:
    global PROGRESS_BAR_HOOK
    PROGRESS_BAR_HOOK = function


class ProgressBar:
    """Calls the hook on every update (the real host throttles; nothing should depend on either)."""

    def __init__(self, total, node_id=None):
        self.total = total
        self.current = 0
        self.node_id = node_id
        self.hook = PROGRESS_BAR_HOOK

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        if self.hook is not None:
            self.hook(self.current, self.total, preview, node_id=self.node_id)

    def update(self, value):
        self.update_absolute(self.current + value)


def load_torch_file(path, safe_load: bool = True, return_metadata: bool = False):
    """The tensors of a safetensors file (and its metadata when asked), as ``comfy.utils.load_torch_file``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (safe_open has no iterator)
        metadata = handle.metadata()
    return (tensors, metadata) if return_metadata else tensors
