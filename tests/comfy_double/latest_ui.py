"""Double of ``comfy_api.latest.ui``: UI outputs a node returns in ``NodeOutput(ui=...)``."""

from __future__ import annotations


class _UIOutput:
    def as_dict(self) -> dict:
        raise NotImplementedError


class PreviewText(_UIOutput):
    def __init__(self, value: str, **kwargs):
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}
