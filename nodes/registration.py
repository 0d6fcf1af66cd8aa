"""The V3 extension: which node classes the pack provides, and what to set up when ComfyUI loads it.

Each node module lists its classes in a module-level ``NODES``; the order here is the order in ComfyUI's node menu.
"""

from __future__ import annotations

from . import conditions, decode, dwpose, host, loaders, pose, pose_hands, pose_shape, sampler, text

NODE_CLASSES: list[type[host.io.ComfyNode]] = [
    *loaders.NODES,
    *text.NODES,
    *conditions.NODES,
    *sampler.NODES,
    *decode.NODES,
    *pose.NODES,
    *pose_hands.NODES,
    *pose_shape.NODES,
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
    return RealisDanceExtension()
