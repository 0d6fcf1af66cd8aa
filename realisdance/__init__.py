"""RealisDance-DiT core: model, checkpoints, pipeline, pose conditions.

Nothing in this package imports ComfyUI; the node classes in ``nodes/`` are thin adapters around it.
"""

__version__ = "0.1.0"
