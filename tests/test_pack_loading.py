"""The pack loads the way ComfyUI loads a custom-node pack, and keeps ComfyUI at its edge."""

from __future__ import annotations

import ast
import importlib
import os
import sys
from pathlib import Path

import pytest
from comfy_double import REPO_ROOT, module_name_for
from comfy_double.latest_io import node_info

pytest_plugins = ["comfy_double.fixtures"]  # the `comfy` and `comfy_pack` fixtures

# Top-level modules that belong to the ComfyUI host.
HOST_MODULES = {
    "comfy",
    "comfy_api",
    "comfy_api_nodes",
    "comfy_execution",
    "comfy_extras",
    "execution",
    "folder_paths",
    "latent_preview",
    "node_helpers",
    "nodes",
    "server",
}


def _absolute_imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one source file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_pack_imports_as_comfyui_imports_it_and_registers_v3_nodes(comfy):
    pack = comfy.install_pack("comfyui-realisdance.v0")  # a dot in the folder name becomes _x_ in the module name
    assert pack.module_name == module_name_for(pack.pack_dir) and "_x_" in pack.module_name
    assert pack.module.WEB_DIRECTORY == "./js"
    assert not hasattr(pack.module, "NODE_CLASS_MAPPINGS"), "one registration style: V3 comfy_entrypoint only"
    # Our node classes live in <pack>.nodes; the top-level "nodes" is still ComfyUI's own module.
    assert sys.modules["nodes"] is comfy.nodes
    ours = sys.modules[f"{pack.module_name}.nodes"]
    assert Path(ours.__file__).parent == Path(pack.pack_dir) / "nodes"
    assert comfy.nodes.NODE_CLASS_MAPPINGS["RealisDanceModelLoader"] is pack.node("RealisDanceModelLoader")
    assert comfy.nodes.NODE_DISPLAY_NAME_MAPPINGS["RealisDanceModelLoader"] == "RealisDance-DiT Loader (deprecated)"
    # on_load registered models/realisdance with explicit extensions (an empty set would mean "every file").
    paths, extensions = comfy.folder_paths.folder_names_and_paths["realisdance"]
    assert paths[0] == str(comfy.models_dir / "realisdance") and os.path.isdir(paths[0])
    assert {".safetensors", ".json", ".npz", ".pkl"} <= extensions


def test_every_node_is_prefixed_categorised_and_documented(comfy_pack):
    assert comfy_pack.nodes, "the entrypoint lists no nodes"
    for node_id, cls in comfy_pack.nodes.items():
        schema = cls.GET_SCHEMA()
        assert node_id.startswith("RealisDance"), node_id
        assert schema.category.startswith("RealisDance"), node_id
        assert schema.display_name and schema.description, node_id
        for item in schema.inputs:
            assert item.tooltip, f"{node_id}.{item.id} has no tooltip"
        for output in schema.outputs:
            assert output.tooltip and output.display_name, f"{node_id} output {output.io_type} is undocumented"
        info = node_info(cls)
        assert info["python_module"] == "custom_nodes.ComfyUI-RealisDance"


def test_the_pack_puts_its_core_on_sys_path_as_top_level_realisdance(comfy, monkeypatch):
    """Inside ComfyUI nothing else makes ``import realisdance`` work: the pack's __init__ must."""
    repo = os.path.realpath(REPO_ROOT)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.realpath(p or os.getcwd()) != repo])
    # The README's setup installs the core editable (for the command line); a ComfyUI install does not.
    editable = [f for f in sys.meta_path if "__editable__" in getattr(f, "__module__", "") + getattr(f, "__name__", "")]
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if f not in editable])
    core = [name for name in sys.modules if name == "realisdance" or name.startswith("realisdance.")]
    saved = {name: sys.modules.pop(name) for name in core}
    try:
        with pytest.raises(ImportError):
            importlib.import_module("realisdance")
        pack = comfy.install_pack()
        assert sys.modules["realisdance"].__file__ == os.path.join(pack.pack_dir, "realisdance", "__init__.py")
        assert sys.path[-1] == pack.pack_dir  # appended: never shadows ComfyUI's own top-level modules
        assert sys.modules["nodes"] is comfy.nodes
    finally:
        for name in [n for n in sys.modules if n == "realisdance" or n.startswith("realisdance.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_the_core_never_imports_comfyui():
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(found)
        for path in sorted((REPO_ROOT / "realisdance").rglob("*.py"))
        if (found := _absolute_imports(path) & HOST_MODULES)
    }
    assert not offenders, f"realisdance/ must stay framework-free: {offenders}"


def test_only_nodes_host_imports_comfyui_and_nothing_imports_top_level_nodes():
    """nodes/host.py is the one adapter: the node API, the host calls and the model classes nodes/native/ subclasses
    (handed out by functions, imported on first use); the node modules reach nodes/native only inside functions, so
    the pack still loads where ComfyUI's model code cannot (the test double)."""
    nodes = REPO_ROOT / "nodes"
    files = [REPO_ROOT / "__init__.py", *sorted(nodes.rglob("*.py"))]
    found = {str(path.relative_to(REPO_ROOT)): _absolute_imports(path) & HOST_MODULES for path in files}
    assert found.pop("nodes/host.py") and "nodes" not in _absolute_imports(nodes / "host.py")
    assert not any(found.values()), f"only nodes/host.py may import ComfyUI: {found}"
    for path in sorted(nodes.glob("*.py")):  # top-level statements only: a lazy import inside a function is fine
        eager = [
            node.module
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.ImportFrom) and node.level == 1 and (node.module or "").startswith("native")
        ]
        assert not eager, f"{path.name} imports nodes/native at module level: {eager}"


def test_the_tests_run_from_a_checkout_named_as_the_readme_says(tmp_path):
    """`git clone ... ComfyUI-RealisDance` gives a folder name that is no Python identifier; pytest then imports the
    root __init__.py as a plain module, which must not fail (it did: "attempted relative import")."""
    import shutil
    import subprocess

    checkout = tmp_path / "ComfyUI-RealisDance"
    ignore = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "outputs", ".ruff_cache")
    shutil.copytree(REPO_ROOT, checkout, ignore=ignore, symlinks=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pack_loading.py", "-k", "core"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
