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


class PreviewImage(_UIOutput):
    """Like the host's: the IMAGE batch saved as PNGs in the temp folder, listed for the frontend."""

    def __init__(self, image, animated: bool = False, cls=None, **kwargs):
        import os
        import uuid

        import folder_paths
        import numpy as np
        from PIL import Image

        folder = folder_paths.get_temp_directory()
        os.makedirs(folder, exist_ok=True)
        prefix = f"ComfyUI_temp_{uuid.uuid4().hex[:5]}"
        self.values = []
        for index, frame in enumerate(image):
            name = f"{prefix}_{index:05}_.png"
            Image.fromarray((np.clip(frame.cpu().numpy(), 0, 1) * 255).round().astype(np.uint8)).save(
                os.path.join(folder, name)
            )
            self.values.append({"filename": name, "subfolder": "", "type": "temp"})
        self.animated = animated

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (self.animated,)}
