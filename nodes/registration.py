"""The V3 extension: which node classes the pack provides, and what to set up when ComfyUI loads it.

Each node module lists its classes in a module-level ``NODES``; the order here is the order in ComfyUI's node menu.
"""

from __future__ import annotations

from . import (
    conditions,
    decode,
    dwpose,
    host,
    loaders,
    native_nodes,
    native_speed,
    pose,
    pose_hands,
    pose_motion,
    pose_shape,
    sampler,
    text,
)
from .examples import place_example_inputs

NODE_CLASSES: list[type[host.io.ComfyNode]] = [
    *native_nodes.NODES,
    *native_speed.NODES,
    *loaders.NODES,
    *text.NODES,
    *conditions.NODES,
    *sampler.NODES,
    *decode.NODES,
    *pose.NODES,
    *pose_hands.NODES,
    *pose_shape.NODES,
    *pose_motion.NODES,
    *dwpose.NODES,
]


class RealisDanceExtension(host.ComfyExtension):
    async def get_node_list(self) -> list[type[host.io.ComfyNode]]:
        return list(NODE_CLASSES)


async def comfy_entrypoint() -> RealisDanceExtension:
    """Called by ComfyUI (nodes.load_custom_node) after importing the pack.

    The model folders are registered here, not in ``on_load``: ComfyUI 0.3.64 never calls ``on_load``.
    """
    host.register_model_folders()
    _register_native_model()
    place_example_inputs(host.input_directory())
    return RealisDanceExtension()


def _register_native_model() -> None:
    """Let the host's model detection (Load Diffusion Model, GGUF loaders, ...) build RealisDance-DiT natively.

    Every real ComfyUI (and the test double) has comfy.model_base; a host without it gets no native model.
    """
    try:
        from .native.model_base import register
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("comfy."):
            raise
        return
    register()
