"""Source nodes that hand test values into a graph (the host has no node making POSE_KEYPOINT or a motion)."""

from __future__ import annotations


def source_class(comfy, type_name: str, values: dict):
    """A node ``TestSource_<type_name>`` whose output is ``values[key]`` for its ``key`` input."""
    io = comfy.io

    class Source(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(
                node_id=f"TestSource_{type_name}",
                inputs=[io.String.Input("key", default="")],
                outputs=[io.Custom(type_name).Output()],
            )

        @classmethod
        def execute(cls, key):
            return io.NodeOutput(values[key])

    return Source
