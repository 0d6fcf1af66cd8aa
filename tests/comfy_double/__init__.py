"""A test double of the ComfyUI host: the API surface ``nodes/host.py`` uses, a pack loader and a graph runner.

Our own small re-implementation for tests (never shipped; ComfyUI itself is GPL-3 and not copied). Usage::

    pytest_plugins = ["comfy_double.fixtures"]  # in the test module: the `comfy` / `comfy_pack` fixtures

    def test_something(comfy):                  # comfy: ComfyDouble, installed into sys.modules
        pack = comfy.install_pack()              # custom_nodes/ComfyUI-RealisDance -> this repo, imported
                                                 # as ComfyUI does; its V3 nodes registered
        (comfy.model_dir("diffusion_models") / "x.safetensors").write_bytes(...)
        result = comfy.run({"1": {"class_type": "RealisDanceModelLoader", "inputs": {...}}}, targets=["1"])
        assert result.status == "success", result.error
        handle = result.output("1")

Or without pytest: ``double = install(tmp_dir)`` ... ``uninstall(double)``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from . import (
    clip_vision,
    core_nodes,
    folder_paths,
    latent_preview,
    latest,
    latest_io,
    latest_ui,
    model_base,
    model_management,
    model_nodes,
    model_patcher,
    sampling,
    sd,
    supported_models,
    utils,
    wan_dit,
)
from .graph import PromptResult, PromptValidationError, run_prompt, validate_prompt
from .loader import REPO_ROOT, LoadedPack, load_pack, module_name_for, unload_pack

__all__ = [
    "REPO_ROOT",
    "ComfyDouble",
    "LoadedPack",
    "PromptResult",
    "PromptValidationError",
    "install",
    "module_name_for",
    "uninstall",
]

_MISSING = object()


@dataclass
class ProgressEvent:
    value: int
    total: int
    node_id: str | None
    preview: tuple | None = None  # ("JPEG", PIL image, max size) when the node sent a preview


@dataclass
class ComfyDouble:
    base_dir: Path
    modules: dict[str, ModuleType]  # what was put into sys.modules, by name
    saved: dict[str, object]  # what was there before (restored by uninstall)
    progress_events: list[ProgressEvent] = field(default_factory=list)
    packs: list[LoadedPack] = field(default_factory=list)
    path_entries: list[str] = field(default_factory=list)  # sys.path entries the loaded packs appended
    output_cache: dict = field(default_factory=dict)  # node outputs kept across prompts for run(..., cached=True)

    io = latest_io
    ui = latest_ui
    latest = latest
    folder_paths = folder_paths
    model_management = model_management
    utils = utils

    @property
    def nodes(self) -> ModuleType:
        """The stand-in for ComfyUI's own ``nodes`` module (NODE_CLASS_MAPPINGS etc.)."""
        return self.modules["nodes"]

    @property
    def models_dir(self) -> Path:
        return Path(folder_paths.models_dir)

    def model_dir(self, name: str) -> Path:
        """models/<name>, created."""
        path = self.models_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def load_pack(self, pack_dir=REPO_ROOT) -> LoadedPack:
        """Import ``pack_dir`` as ComfyUI would and register its nodes."""
        added_to_path = os.path.abspath(pack_dir) not in sys.path
        pack = load_pack(pack_dir)
        self.packs.append(pack)
        if added_to_path and pack.pack_dir in sys.path:
            self.path_entries.append(pack.pack_dir)
        return pack

    def install_pack(self, folder_name: str = "ComfyUI-RealisDance") -> LoadedPack:
        """Link this repository into <base>/custom_nodes/<folder_name> (as users install it) and load it there."""
        target = self.base_dir / "custom_nodes" / folder_name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(REPO_ROOT, target_is_directory=True)
        except OSError:  # no symlinks (e.g. Windows without developer mode): load the checkout where it is
            return self.load_pack(REPO_ROOT)
        return self.load_pack(target)

    def validate(self, prompt: dict, targets: list[str] | None = None):
        return validate_prompt(prompt, self.nodes.NODE_CLASS_MAPPINGS, targets)

    def run(self, prompt: dict, targets: list[str] | None = None, on_node_start=None, cached=False) -> PromptResult:
        """Execute a prompt. ``cached``: reuse the outputs of nodes unchanged since an earlier cached run (as the
        host does when a prompt is queued again); ``result.executed`` lists only the nodes that really ran."""
        cache = self.output_cache if cached else None
        return run_prompt(prompt, self.nodes.NODE_CLASS_MAPPINGS, targets, on_node_start, cache)

    def interrupt(self) -> None:
        """What the host's POST /interrupt does."""
        model_management.interrupt_current_processing(True)


def _package(name: str, **attributes) -> ModuleType:
    module = ModuleType(name)
    module.__path__ = []  # a package, so "import name.sub" resolves through sys.modules
    module.__dict__.update(attributes)
    return module


def install(base_dir) -> ComfyDouble:
    """Put the double into sys.modules under ComfyUI's module names, with a fresh host layout in ``base_dir``."""
    base_dir = Path(base_dir)
    folder_paths.configure(base_dir)
    model_management.reset()
    supported_models.reset()
    comfy_nodes = ModuleType("nodes")  # ComfyUI's nodes.py: the registry the loader fills
    comfy_nodes.NODE_CLASS_MAPPINGS, comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS = {}, {}
    comfy_nodes.EXTENSION_WEB_DIRS = {}
    for core in [*core_nodes.NODES, *model_nodes.NODES]:  # the host's own nodes the bundled workflows use
        comfy_nodes.NODE_CLASS_MAPPINGS[core.GET_SCHEMA().node_id] = core
    wan = _package("comfy.ldm.wan", model=wan_dit)
    ldm = _package("comfy.ldm", wan=wan)
    modules = {
        "comfy_api": _package("comfy_api", latest=latest),
        "comfy_api.latest": latest,
        "comfy": _package(
            "comfy",
            model_management=model_management,
            utils=utils,
            latent_formats=latent_preview,
            clip_vision=clip_vision,
            ldm=ldm,
            ops=wan_dit,
            sd=sd,
            model_base=model_base,
            conds=model_base,
            supported_models=supported_models,
            model_patcher=model_patcher,
            samplers=sampling,
            sample=sampling,
        ),
        "comfy.clip_vision": clip_vision,
        "comfy.sd": sd,
        # Model code: the Wan DiT the native RealisDance model subclasses (tests/test_native_model.py), the inner
        # model, detection configs and patcher a MODEL is made of, and custom sampling with CFG.
        "comfy.model_base": model_base,
        "comfy.conds": model_base,
        "comfy.supported_models": supported_models,
        "comfy.model_patcher": model_patcher,
        "comfy.samplers": sampling,
        "comfy.sample": sampling,
        "comfy.ldm": ldm,
        "comfy.ldm.wan": wan,
        "comfy.ldm.wan.model": wan_dit,
        "comfy.ops": wan_dit,
        "comfy.model_management": model_management,
        "comfy.latent_formats": latent_preview,
        "latent_preview": latent_preview,
        "comfy.utils": utils,
        "folder_paths": folder_paths,
        "nodes": comfy_nodes,
    }
    saved = {name: sys.modules.get(name, _MISSING) for name in modules}
    sys.modules.update(modules)
    double = ComfyDouble(base_dir, modules, saved)

    def hook(value, total, preview, node_id=None):  # like the hook main.py installs: Cancel check, then report
        model_management.throw_exception_if_processing_interrupted()
        double.progress_events.append(ProgressEvent(value, total, node_id or utils.EXECUTING_NODE, preview))

    utils.set_progress_bar_global_hook(hook)
    return double


def uninstall(double: ComfyDouble) -> None:
    for pack in double.packs:
        unload_pack(pack)
    for entry in double.path_entries:
        if entry in sys.path:
            sys.path.remove(entry)
    utils.set_progress_bar_global_hook(None)
    model_management.reset()
    for name, previous in double.saved.items():
        if previous is _MISSING:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
