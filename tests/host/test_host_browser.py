"""The frontend in headless Chromium: our node types, our JS extension, and UI workflows converted to prompts."""

from __future__ import annotations

import copy
import os
import shutil

import pytest
from host_env import PACK_MODULE, run_driver
from workflow_files import NO_WORKFLOWS, api_workflows, blueprint_workflows, place_files, shrunk, ui_workflows

CONTROL = "control: a template whose DiT file is absent"


def _with_a_missing_model() -> dict:
    """The reference template naming a DiT file that is not there: the frontend must report it on open."""
    workflow = copy.deepcopy(ui_workflows()["reference_pose_to_video"])
    for node in workflow["nodes"]:
        if node["type"] == "RealisDanceLoadModel":
            node["widgets_values"][0] = "absent_RealisDance.safetensors"
            node["properties"]["models"] = [{"name": "absent_RealisDance.safetensors", "directory": "diffusion_models"}]
    return workflow


@pytest.fixture(scope="module")
def page(comfy_server, host, tiny_release, media, tmp_path_factory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium for the browser test (Debian: apt-get install -y chromium)")
    ours = sorted(name for name, info in comfy_server.object_info.items() if info["python_module"] == PACK_MODULE)
    work = tmp_path_factory.mktemp("browser")
    for prompt in api_workflows().values():  # the model files and media in place before the page opens, as a user's
        place_files(shrunk(prompt), comfy_server.base, tiny_release, media)
    job = {
        "url": comfy_server.url,
        "chromium": chromium,
        "node_types": ours,
        "workflows": {**ui_workflows(), **blueprint_workflows(), CONTROL: _with_a_missing_model()},
        "profile": str(work / "profile"),
        # Set to a folder to look at each template as the frontend opens it (one PNG per workflow).
        "screenshots": os.environ.get("REALISDANCE_SCREENSHOTS"),
    }
    return run_driver(host, "browser_check", job, work, timeout=180) | {"ours": ours}


def test_the_ui_registers_our_node_types_and_runs_our_extension(page):
    assert page["registered"] == page["ours"]
    assert page["flag"] is True
    assert sorted(page["decorated"]) == page["ours"]  # beforeRegisterNodeDef saw every one of our nodes


@pytest.mark.parametrize("renderer", ["classic", "vue"])
def test_the_summary_shows_in_the_hosts_text_preview_and_is_never_saved(page, renderer):
    """The latest line, in the host's own text preview widget (a widget: the Vue renderer draws it too), and the
    node's saved widget values unchanged; a "; " separates rows. Frontends without that widget (ComfyUI 0.3.64's)
    get the canvas footer, one row per part."""
    check = page[renderer]
    assert check["summary"] == "64x112, 5 frames; plan: resident"
    assert check["values_unchanged"], check
    if not check["host_text_preview"]:
        if renderer == "vue":
            pytest.skip("this frontend has no Vue node renderer")
        assert check["widget"] is None and check["grew"] == 36, check  # two footer rows of 18 px
        return
    if renderer == "vue":
        assert check["vue_enabled"] is True
    assert check["widget"] == "64x112, 5 frames\nplan: resident", check
    assert check["in_dom"], check


@pytest.mark.parametrize("name", sorted(ui_workflows()) + sorted(blueprint_workflows()) or NO_WORKFLOWS)
def test_a_bundled_ui_workflow_converts_to_a_prompt_the_server_runs(page, comfy_server, tiny_release, media, name):
    prompt = shrunk(page["prompts"][name])
    missing = place_files(prompt, comfy_server.base, tiny_release, media)
    if missing:
        pytest.skip(f"no tiny stand-in for {missing}")
    status, queued = comfy_server.request("/prompt", {"prompt": prompt})
    assert status == 200 and queued["node_errors"] == {}, queued
    entry = comfy_server.wait_for_history(queued["prompt_id"], timeout=150)
    assert entry["status"]["status_str"] == "success", entry["status"]


# Templates that need nothing licensed or user-made: with the model files in place they open with no error at all.
READY = ["reference_pose_to_video", "reference_pose_to_video_fast", "blueprint:RealisDance Pose to Video"]


@pytest.mark.parametrize("name", READY)
def test_a_ready_template_opens_with_no_error_when_the_models_are_in_place(page, name):
    assert page["errors_on_open"][name] is None, page["errors_on_open"][name]
    control = page["errors_on_open"][CONTROL]  # the check sees the frontend's errors when there are some
    assert control is not None and "missing" in control.lower(), control
