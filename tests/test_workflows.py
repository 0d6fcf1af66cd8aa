"""The bundled workflows: each API workflow validates in the ComfyUI double and EXECUTES there end to end (the
MODEL loader, RealisDance To Video, the release sampler, the host's VAE Decode and Save Video; tests/host runs them
on a real ComfyUI too), on the tiny release converted to the files the templates name (pose assets: the procedural
body models, GVHMR file and DWPose graphs of tests/pose_assets.py); each UI workflow is its API twin as the frontend
saves it (same nodes, links and widget values in order) and is what scripts/build_workflows.py writes from the
twin."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_files import converted_parts, place_model_files
from pose_assets import WORKFLOW_MOTION_FRAMES, WORKFLOW_MOTION_SIZE, place_pose_files, write_body_folder

from realisdance.demo_inputs import write_demo_inputs
from realisdance.tiny import build_tiny_release
from realisdance.video import read_video

pytest_plugins = ["comfy_double.fixtures"]

REPO = Path(__file__).resolve().parents[1]
API = sorted((REPO / "workflows" / "api").glob("*.api.json"))
UI = REPO / "example_workflows"
# The native path every template takes.
NATIVE = {"RealisDanceLoadModel", "RealisDanceToVideo", "VAEDecode"}
SAMPLERS = {"RealisDanceReleaseSampler", "KSampler"}  # the release preset, or the fast recipe's stock sampler
# Release-sized settings turned down for a CPU run (by input name, widget values only).
SHRINK = {"steps": 2, "num_frames": 5, "max_area": 32 * 56, "iterations": 5}


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory):
    # Native widths (umT5 4096, CLIP 1280): RealisDance To Video builds conditioning for ComfyUI's Wan classes.
    return build_tiny_release(tmp_path_factory.mktemp("wf") / "release", variant="native-I2V")


@pytest.fixture(scope="module")
def demo_media(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("wf_media"))


@pytest.fixture(scope="module")
def body_models(tmp_path_factory):
    return write_body_folder(tmp_path_factory.mktemp("wf_body"))


@pytest.fixture
def host(comfy, tiny_release, demo_media, body_models):
    """The double with every file the workflows name: model files link to the converted tiny release, release
    folders to the tiny release itself, media copied."""
    parts = converted_parts(tiny_release)
    for path in API:
        place_model_files(_load(path), comfy.models_dir, parts)
        for node in _load(path).values():
            for value in node["inputs"].values():
                if not isinstance(value, str):
                    continue
                if node["class_type"].startswith("RealisDance") and value.endswith("/"):
                    folder = comfy.model_dir("realisdance") / value.rstrip("/")
                    if not folder.exists():
                        folder.symlink_to(tiny_release, target_is_directory=True)
                elif node["class_type"] == "LoadImage":
                    shutil.copy(demo_media["ref"], comfy.base_dir / "input" / value)
                elif node["class_type"] == "LoadVideo":
                    kind = "hamer" if "hamer" in value or "hand" in value else "smpl"
                    shutil.copy(demo_media[kind], comfy.base_dir / "input" / value)
        place_pose_files(_load(path), comfy.base_dir, body_models)
    comfy.install_pack()
    return comfy


# The resolved video size (width, height) per workflow at SHRINK's max_area of 32*56 px, from the pose videos' aspect:
# 448x256 demo poses give sides 56 and 32, in multiples of 16 with halves to even (3.5 -> 4): 64x32. The GVHMR
# stand-in renders at 64x80 (4:5): sides 37.9 x 47.3 -> 2.4 and 3.0 sixteens -> 32x48.
VIDEO_SIZES = {
    "reference_pose_to_video.api.json": (64, 32),
    "pose_gvhmr_to_video.api.json": (32, 48),
    "driving_video_to_video.api.json": (64, 32),
    "reference_pose_to_video_fast.api.json": (64, 32),  # rendered at the driving video's size: the 448x256 demo clip
}


def _ui_path(api_path: Path) -> Path:
    return UI / api_path.name.replace(".api.json", ".json")


def test_the_bundled_workflows_have_ui_twins_served_as_templates():
    assert "reference_pose_to_video.api.json" in [p.name for p in API]
    for path in API:
        assert _ui_path(path).is_file()
    # ComfyUI serves <pack>/{example_workflows,workflows,...}/*.json as templates: no API twin may sit there.
    for folder in ("example_workflows", "example", "examples", "workflow", "workflows"):
        assert not list((REPO / folder).glob("*.api.json")), folder


def test_the_ui_workflows_are_what_the_builder_writes():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_workflows.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + " (run: python scripts/build_workflows.py)"


@pytest.mark.parametrize("path", API, ids=lambda p: p.name)
def test_ui_workflow_nodes_do_not_overlap_and_open_readable(path):
    ui = _load(_ui_path(path))
    boxes = [(n["pos"][0], n["pos"][1], n["size"][0], n["size"][1]) for n in ui["nodes"]]
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, (boxes[i], (x2, y2, w2, h2))
    assert ui["extra"]["ds"]["scale"] >= 0.75  # the frontend draws no text on nodes at low zoom
    assert all(n["size"][0] >= 400 for n in ui["nodes"])  # our one-line footers fit


@pytest.mark.parametrize("path", API, ids=lambda p: p.name)
def test_api_workflow_validates_and_runs_to_the_saved_video(host, path):
    prompt = _load(path)
    targets, _ = host.validate(prompt)  # as released: release-sized settings, every node id and input known
    assert targets == [i for i, n in prompt.items() if n["class_type"] == "SaveVideo"]
    assert {n["class_type"] for n in prompt.values()} >= NATIVE
    assert len([n for n in prompt.values() if n["class_type"] in SAMPLERS]) == 1

    small = copy.deepcopy(prompt)
    for node in small.values():
        for name, value in SHRINK.items():
            if name in node["inputs"] and not _is_link(node["inputs"][name]):
                node["inputs"][name] = value
    (to_video,) = [i for i, n in small.items() if n["class_type"] == "RealisDanceToVideo"]
    result = host.run(small).raise_error()
    positive, negative, latent, width, height, frames = result.outputs[to_video]
    assert (width, height, frames) == (*VIDEO_SIZES[path.name], 5)
    assert latent["samples"].shape == (1, 16, 2, height // 8, width // 8) and not latent["samples"].any()
    for conditioning in (positive, negative):
        ((text, options),) = conditioning
        assert text.shape == (1, 512, 4096)
        assert options["realisdance_pose"].shape == (1, 32, 2, height // 8, width // 8)
        assert options["concat_latent_image"].shape == (1, 16, 2, height // 8, width // 8)
        assert options["clip_vision_output"].penultimate_hidden_states.shape == (1, 257, 1280)
    assert result.ui[to_video]["realisdance_summary"][0].startswith(f"{width}x{height}, 5 frames")
    (sampler,) = [i for i, n in small.items() if n["class_type"] in SAMPLERS]
    sampled = result.outputs[sampler][0]["samples"]
    assert sampled.shape == latent["samples"].shape and torch.isfinite(sampled).all() and sampled.abs().max() > 0
    if small[sampler]["class_type"] == "RealisDanceReleaseSampler":
        assert result.ui[sampler]["realisdance_summary"][0].startswith("2 steps")
    (save,) = targets
    (saved,) = result.ui[save]["images"]
    frames, fps = read_video(host.base_dir / "output" / saved["subfolder"] / saved["filename"])
    assert frames.shape[:3] == (5, height, width) and fps == 16
    for node_id, node in small.items():
        if node["class_type"] == "RealisDanceRenderPose":  # the pose part really ran (GVHMR stand-in or motion fit)
            smpl_cs, hands = result.outputs[node_id]
            motion = result.outputs[node["inputs"]["motion"][0]][0]
            assert smpl_cs.shape == hands.shape == (motion.num_frames, motion.height, motion.width, 3)
            assert smpl_cs.amax() > 0
        if node["class_type"] == "RealisDanceLoadGVHMR":
            motion = result.outputs[node_id][0]
            assert (motion.num_frames, motion.width, motion.height) == (WORKFLOW_MOTION_FRAMES, *WORKFLOW_MOTION_SIZE)
        if node["class_type"] == "RealisDanceFitMotion":  # fitted to every frame of the driving video, QC shown
            motion, preview = result.outputs[node_id]
            assert preview.shape == (motion.num_frames, motion.height, motion.width, 3)
            assert len(result.ui[node_id]["images"]) == motion.num_frames
        if node["class_type"] == "RealisDanceTransferShape":  # the motion carries the fitted reference shape
            fit_id = node["inputs"]["shape"][0]
            motion = result.outputs[node_id][0]
            assert torch.equal(motion.params.betas[0], result.outputs[fit_id][0].betas)


def _ui_as_api(ui: dict, classes: dict, widget_type: type) -> dict:
    """The API prompt the frontend would send for a UI workflow (Notes dropped), from our schemas' input order."""
    links = {link[0]: link for link in ui["links"]}  # id -> [id, origin, slot, target, target_slot, type]
    prompt = {}
    for node in ui["nodes"]:
        if node["type"] == "Note":
            continue
        schema = classes[node["type"]].GET_SCHEMA()
        linked = {i["name"]: links[i["link"]] for i in node["inputs"] if i.get("link") is not None}
        values = iter(node["widgets_values"])
        inputs = {}
        for item in schema.inputs:
            if isinstance(item, widget_type):  # a widget owns a value, even when a link feeds it
                value = next(values)
                if getattr(item, "control_after_generate", None) or getattr(item, "upload", None):
                    next(values)  # the frontend stores the "control after generate" / upload widget's value too
                inputs[item.id] = value
            if item.id in linked:
                origin = linked[item.id]
                inputs[item.id] = [str(origin[1]), origin[2]]
        assert next(values, None) is None, f"node {node['id']} has more widget values than widgets"
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


@pytest.mark.parametrize("path", API, ids=lambda p: p.name)
def test_ui_workflow_is_the_api_twin(host, path):
    api = _load(path)
    ui = _load(_ui_path(path))
    converted = _ui_as_api(ui, host.nodes.NODE_CLASS_MAPPINGS, host.io.WidgetInput)
    assert converted == {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}
    titles = {str(n["id"]): n.get("title", n["type"]) for n in ui["nodes"] if n["type"] != "Note"}
    assert titles == {k: v.get("_meta", {}).get("title", v["class_type"]) for k, v in api.items()}
    # Every link is listed once on both ends, with the type of its origin output.
    for link_id, origin, slot, target, target_slot, io_type in ui["links"]:
        nodes = {n["id"]: n for n in ui["nodes"]}
        assert link_id in nodes[origin]["outputs"][slot]["links"]
        assert nodes[target]["inputs"][target_slot]["link"] == link_id
        assert nodes[origin]["outputs"][slot]["type"] == io_type
    notes = [n["widgets_values"][0] for n in ui["nodes"] if n["type"] == "Note"]
    assert any("wan_2.1_vae.safetensors" in text and "realisdance convert" in text for text in notes)


@pytest.mark.parametrize("path", API, ids=lambda p: p.name)
def test_every_model_file_a_template_names_is_listed_for_the_frontends_missing_model_check(path):
    """ComfyUI's frontend names a missing model file before Run, with its folder and a download button, from the
    node's properties.models; the Wan 2.1 files come from Comfy-Org's repackaged repository, the DiT from convert."""
    from model_files import LOADER_INPUTS

    ui = _load(_ui_path(path))
    named = 0
    for node in ui["nodes"]:
        files = [v for v in node.get("widgets_values", []) if isinstance(v, str) and v.endswith(".safetensors")]
        listed = {entry["name"]: entry for entry in node["properties"].get("models", [])}
        assert sorted(listed) == sorted(files), node["type"]
        for name, entry in listed.items():
            folders = {folder for (loader, _), (folder, _) in LOADER_INPUTS.items() if loader == node["type"]}
            assert entry["directory"] in folders, (node["type"], entry)
            if entry["directory"] == "loras":  # the step-distill LoRA of the fast recipe
                assert entry["url"] == f"https://huggingface.co/Kijai/WanVideo_comfy/resolve/main/Lightx2v/{name}"
            elif entry["directory"] != "diffusion_models":
                assert entry["url"].startswith("https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/")
                assert entry["url"].endswith(f"/split_files/{entry['directory']}/{name}")
            named += 1
    assert named == (5 if "LoraLoaderModelOnly" in {n["type"] for n in ui["nodes"]} else 4)  # DiT, umT5, CLIP, VAE


def test_the_subgraph_blueprint_is_the_templates_generation_as_one_node():
    """subgraphs/RealisDance Pose to Video.json holds the template's nodes but its media and video nodes, with the
    same widget values; the media come in as the blueprint's inputs and the decoded frames go out."""
    blueprint = _load(REPO / "subgraphs" / "RealisDance Pose to Video.json")
    (definition,) = blueprint["definitions"]["subgraphs"]
    template = _load(UI / "reference_pose_to_video.json")
    outside = {"LoadImage", "LoadVideo", "GetVideoComponents", "CreateVideo", "SaveVideo", "Note"}
    expected = {n["id"]: (n["type"], n["widgets_values"]) for n in template["nodes"] if n["type"] not in outside}
    inner = {n["id"]: (n["type"], n["widgets_values"]) for n in definition["nodes"]}
    for node_id, (kind, values) in expected.items():
        assert inner[node_id][0] == kind
        if kind not in ("RealisDanceToVideo", "CLIPTextEncode"):  # those two take blueprint inputs in widgets
            assert inner[node_id][1] == values, kind
    assert set(inner) == set(expected)
    assert [(i["name"], i["type"]) for i in definition["inputs"]] == [
        ("reference", "IMAGE"), ("smpl", "IMAGE"), ("hamer", "IMAGE"), ("pose_fps", "FLOAT"), ("prompt", "STRING")
    ]  # fmt: skip
    assert [(o["name"], o["type"]) for o in definition["outputs"]] == [("frames", "IMAGE")]
    links = {link["id"]: link for link in definition["links"]}
    for slot, item in enumerate(definition["inputs"]):  # each input reaches the node input of its name
        (link_id,) = item["linkIds"]
        link = links[link_id]
        assert (link["origin_id"], link["origin_slot"]) == (-10, slot)
        target = next(n for n in definition["nodes"] if n["id"] == link["target_id"])
        assert target["inputs"][link["target_slot"]]["name"] == ("text" if item["name"] == "prompt" else item["name"])
    (outer,) = blueprint["nodes"]
    assert outer["type"] == definition["id"] and definition["category"] == "RealisDance"
    assert outer["properties"]["proxyWidgets"] == [["-1", "pose_fps"], ["-1", "prompt"]]
