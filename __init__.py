"""ComfyUI-RealisDance: registration only (the V3 ``comfy_entrypoint`` and the frontend folder).

ComfyUI imports this folder as a package whose name is derived from its path (nodes.load_custom_node), so
everything inside it is reached relatively, e.g. ``.nodes``. Never ``import nodes``: that is ComfyUI's nodes.py.
"""

import os
import sys

# The framework-free core lives in ./realisdance and is imported as the top-level package ``realisdance`` by the
# node classes, the command line (``python -m realisdance``) and the tests alike, so there is one copy of every
# class (e.g. RealisDanceError) whichever way the code is entered. ComfyUI does not put a pack's folder on sys.path,
# so we do. Appended, not prepended: our folder also holds a ``nodes`` package, which must never shadow ComfyUI's
# nodes.py (ComfyUI's root comes first on sys.path).
_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)

WEB_DIRECTORY = "./js"


# ComfyUI always imports the pack as a package. pytest imports this file as a plain module (no package) when the
# checkout's folder name is no Python identifier, e.g. the README's "ComfyUI-RealisDance": nothing to register then.
if __package__:
    try:
        from .nodes import comfy_entrypoint
    except ModuleNotFoundError as err:
        # Outside ComfyUI there is nothing to register: pytest, for one, imports this file as the package of the
        # repository root. Inside ComfyUI these modules always exist, so any failure there still surfaces in full.
        if err.name not in ("comfy", "comfy_api", "folder_paths"):
            raise
    else:
        __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
