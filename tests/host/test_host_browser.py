"""The frontend in headless Chromium: our node types, our JS extension, and UI workflows converted to prompts."""

from __future__ import annotations

import os
import shutil

import pytest
from host_env import PACK_MODULE, run_driver
from workflow_files import NO_WORKFLOWS, blueprint_workflows, place_files, shrunk, ui_workflows


@pytest.fixture(scope="module")
def page(comfy_server, host, tiny_release, media, tmp_path_factory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium for the browser test (Debian: apt-get install -y chromium)")
    ours = sorted(name for name, info in comfy_server.object_info.items() if info["python_module"] == PACK_MODULE)
    work = tmp_path_factory.mktemp("browser")
    job = {
        "url": comfy_server.url,
        "chromium": chromium,
        "node_types": ours,
        "workflows": {**ui_workflows(), **blueprint_workflows()},
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
