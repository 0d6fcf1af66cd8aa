"""Double of ``comfy.model_patcher.ModelPatcher``: a MODEL as nodes pass it (the inner model, its options, clones).

Clones share the weights and copy ``model_options`` (so a patch node changes only its own output), and object
patches replace a named attribute of the inner model (what shift nodes do to ``model_sampling``).
"""

from __future__ import annotations

import copy


class ModelPatcher:
    def __init__(self, model, load_device=None, offload_device=None) -> None:
        self.model = model
        self.load_device, self.offload_device = load_device, offload_device
        self.model_options: dict = {"transformer_options": {}}
        self.object_patches: dict = {}

    def clone(self) -> ModelPatcher:
        twin = ModelPatcher(self.model, self.load_device, self.offload_device)
        twin.model_options = copy.deepcopy(self.model_options)
        twin.object_patches = dict(self.object_patches)
        return twin

    def add_object_patch(self, name: str, value) -> None:
        self.object_patches[name] = value

    def get_model_object(self, name: str):
        if name in self.object_patches:
            return self.object_patches[name]
        value = self.model
        for part in name.split("."):
            value = getattr(value, part)
        return value
