"""ComfyUI node classes of the pack: thin adapters around the ``realisdance`` core.

Imported only relatively, as ``<pack>.nodes``: a top-level ``nodes`` is ComfyUI's own nodes.py.
"""

from .registration import RealisDanceExtension, comfy_entrypoint

__all__ = ["RealisDanceExtension", "comfy_entrypoint"]
