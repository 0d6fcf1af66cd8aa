"""What the Comfy Registry and ComfyUI read from the pack besides its code: pyproject metadata that matches
requirements.txt, a licence, an icon, the supported host versions, and a help page for every node."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def _requirements() -> list[str]:
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_pyproject_dependencies_are_requirements_txt():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert sorted(project["dependencies"]) == sorted(_requirements())


def test_the_registry_fields_are_filled():
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project, comfy = data["project"], data["tool"]["comfy"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert (REPO / project["license"]["file"]).read_text(encoding="utf-8").lstrip().startswith("Apache License")
    assert {"Repository", "Homepage", "Documentation", "Issues"} <= set(project["urls"])
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["requires-comfyui"].startswith(">=")
    icon = comfy["Icon"].rsplit("/", 1)[-1]
    assert (REPO / icon).is_file() and comfy["Icon"].startswith("https://")


def test_every_node_has_a_current_help_page():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_node_docs.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + " (run: python scripts/build_node_docs.py)"
