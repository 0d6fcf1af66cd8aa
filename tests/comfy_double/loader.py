"""Import a node pack exactly as ComfyUI's ``nodes.load_custom_node`` does, and collect its V3 nodes.

The pack folder's ``__init__.py`` is executed as a package whose module name is the folder's full path with dots
replaced by ``_x_``; the node classes come from ``comfy_entrypoint()`` -> ``ComfyExtension.on_load()`` ->
``get_node_list()``, and each is registered under its schema's node_id. Unlike the host, errors are raised, not
logged, so a test sees them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LoadedPack:
    module: ModuleType
    module_name: str
    pack_dir: str
    nodes: dict[str, type] = field(default_factory=dict)  # node_id -> class
    display_names: dict[str, str] = field(default_factory=dict)
    web_dir: str | None = None

    def node(self, node_id: str) -> type:
        return self.nodes[node_id]


def module_name_for(pack_dir: str | os.PathLike) -> str:
    return os.fspath(pack_dir).replace(".", "_x_")


def load_pack(pack_dir: str | os.PathLike = REPO_ROOT) -> LoadedPack:
    """Import the pack and register its nodes in the (double's) ``nodes.NODE_CLASS_MAPPINGS``."""
    from comfy_api.latest import ComfyExtension

    comfy_nodes = sys.modules["nodes"]  # ComfyUI's nodes.py (the double's stand-in)
    pack_dir = os.path.abspath(pack_dir)  # abspath, not realpath: a symlinked pack keeps its custom_nodes path
    name = module_name_for(pack_dir)
    spec = importlib.util.spec_from_file_location(name, os.path.join(pack_dir, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    loaded = LoadedPack(module, name, pack_dir)

    web = getattr(module, "WEB_DIRECTORY", None)
    if web is not None and os.path.isdir(os.path.join(pack_dir, web)):
        loaded.web_dir = os.path.abspath(os.path.join(pack_dir, web))
        comfy_nodes.EXTENSION_WEB_DIRS[os.path.basename(pack_dir)] = loaded.web_dir
    if getattr(module, "NODE_CLASS_MAPPINGS", None) is not None:
        raise AssertionError(f"{pack_dir}: V1 NODE_CLASS_MAPPINGS found; this pack registers through V3 only")

    async def collect() -> list[type]:
        entrypoint = module.comfy_entrypoint
        extension = await entrypoint() if inspect.iscoroutinefunction(entrypoint) else entrypoint()
        if not isinstance(extension, ComfyExtension):
            raise TypeError(f"comfy_entrypoint returned {type(extension).__name__}, not a ComfyExtension")
        # ComfyUI 0.3.64 never calls ComfyExtension.on_load(); neither do we, so the pack cannot come to rely on it.
        node_list = await extension.get_node_list()
        if not isinstance(node_list, list):
            raise TypeError("get_node_list() must return a list")
        return node_list

    for node_cls in asyncio.run(collect()):
        schema = node_cls.GET_SCHEMA()
        node_cls.RELATIVE_PYTHON_MODULE = f"custom_nodes.{os.path.basename(pack_dir)}"
        loaded.nodes[schema.node_id] = node_cls
        comfy_nodes.NODE_CLASS_MAPPINGS[schema.node_id] = node_cls
        if schema.display_name is not None:
            loaded.display_names[schema.node_id] = schema.display_name
            comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS[schema.node_id] = schema.display_name
    return loaded


def unload_pack(loaded: LoadedPack) -> None:
    """Forget the pack's modules (the core ``realisdance`` package stays imported)."""
    for key in [k for k in sys.modules if k == loaded.module_name or k.startswith(loaded.module_name + ".")]:
        del sys.modules[key]
