"""The bundled API workflows, made runnable on tiny models: their files put in place, their sizes shrunk.

A workflow names model files, folders and input media by the names a user would have; the tests give each name a
tiny stand-in in the host's base folder (the tiny release for model folders, the synthetic demo clip for media, the
procedural body models / GVHMR file / DWPose graphs of tests/pose_assets.py for pose assets) and turn the
release-sized settings (81 frames, 768*768, 40 steps, 200 fit iterations) down so a CPU run takes seconds.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from host_env import REPO_ROOT, TINY_RELEASE, copy_into
from model_files import LOADER_INPUTS, converted_parts, place_model_files
from pose_assets import place_pose_files

API_WORKFLOWS = REPO_ROOT / "workflows" / "api"  # API twins, for scripted runs (not served as templates)
UI_WORKFLOWS = REPO_ROOT / "example_workflows"  # the templates ComfyUI serves

# Inputs turned down for a CPU run, by input name, wherever they appear (only when present).
# (No width/height: the GVHMR stand-in is small already, and another size must keep its aspect ratio.)
SHRINK = {"steps": 2, "num_frames": 5, "frames": 5, "length": 5, "max_area": 128 * 224, "iterations": 5}
# Pose nodes whose files tests/pose_assets.py stands in for (place_pose_files), by node and input name.
POSE_FILES = {
    "RealisDanceBodyModelLoader": "folder",
    "RealisDanceLoadGVHMR": "path",
    "RealisDanceLoadHaMeR": "path",
    "RealisDanceDWPose": "models",
}
# A slow graph for the interrupt test: the sampler's steps raised to this.
MANY_STEPS = 5000

NO_WORKFLOWS = [pytest.param("none", marks=pytest.mark.skip("no bundled workflows yet (workflows/api/)"))]


def api_workflows() -> dict[str, dict]:
    """name -> API-format prompt, for every workflows/api/*.api.json."""
    return {
        path.name.removesuffix(".api.json"): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(API_WORKFLOWS.glob("*.api.json"))
    }


def ui_workflows() -> dict[str, dict]:
    """name -> UI-format workflow, for every example_workflows/*.json."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(UI_WORKFLOWS.glob("*.json"))}


def blueprint_workflows() -> dict[str, dict]:
    """ "blueprint:<name>" -> a UI workflow using the subgraph blueprint subgraphs/<name>.json between the media and
    video nodes of the template it was made from (a real frontend expands it into the prompt it queues)."""
    import sys

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from build_workflows import BLUEPRINTS, SUBGRAPH_DIR
    from subgraph_blueprint import with_media

    workflows = {}
    for file_name, (source, _) in BLUEPRINTS.items():
        blueprint = json.loads((SUBGRAPH_DIR / file_name).read_text(encoding="utf-8"))
        template = json.loads((UI_WORKFLOWS / f"{source}.json").read_text(encoding="utf-8"))
        prompt = json.loads((API_WORKFLOWS / f"{source}.api.json").read_text(encoding="utf-8"))
        workflows[f"blueprint:{file_name.removesuffix('.json')}"] = with_media(blueprint, template, prompt)
    return workflows


def shrunk(prompt: dict, **overrides) -> dict:
    prompt = copy.deepcopy(prompt)
    values = SHRINK | overrides
    for node in prompt.values():
        inputs = node.get("inputs", {})
        for name, value in values.items():
            if name in inputs and not isinstance(inputs[name], list):  # a list is a link, not a widget value
                inputs[name] = value
    return prompt


def place_files(prompt: dict, base: Path, tiny_release: Path, media: dict[str, Path]) -> list[str]:
    """Give every file the prompt names a tiny stand-in under ``base``; returns the names it could not provide.

    media: "ref" (an image), "smpl" and "hamer" (pose videos), as written by realisdance.demo_inputs.
    """
    place_pose_files(prompt, base)
    place_model_files(prompt, base / "models", converted_parts(tiny_release))
    missing = []
    for node in prompt.values():
        class_type, inputs = node["class_type"], node.get("inputs", {})
        ours = class_type.startswith("RealisDance")
        for name, value in inputs.items():
            if not isinstance(value, str) or POSE_FILES.get(class_type) == name or (class_type, name) in LOADER_INPUTS:
                continue  # not a file, or one placed above
            if ours and value.endswith("/"):
                folder = base / "models" / "realisdance" / value.rstrip("/")
                if value.rstrip("/") != TINY_RELEASE and not folder.exists():
                    folder.symlink_to(tiny_release, target_is_directory=True)
            elif ours and "vae" in class_type.lower() and value.endswith(".safetensors"):
                copy_into(tiny_release / "vae" / "diffusion_pytorch_model.safetensors", base / "models" / "vae" / value)
            elif class_type == "LoadImage" and name == "image":
                copy_into(media["ref"], base / "input" / value)
            elif class_type == "LoadVideo" and name == "file":
                hands = any(word in value.lower() for word in ("hamer", "hand"))
                copy_into(media["hamer" if hands else "smpl"], base / "input" / value)
            elif value.endswith((".safetensors", ".sft", ".pth", ".ckpt", ".pt", ".npz", ".pkl")):
                missing.append(f"{class_type}.{name}={value}")
    return missing
