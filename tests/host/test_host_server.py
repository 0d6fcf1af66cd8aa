"""The pack in a real ComfyUI server: /object_info (and the double's contract), /prompt, /history, 400s, /interrupt."""

from __future__ import annotations

import pytest
from host_env import PACK_MODULE, TINY_RELEASE, double_view, run_driver
from workflow_files import MANY_STEPS, api_workflows, place_files, shrunk

LOADER = "RealisDanceModelLoader"


def _loader_graph(dtype: str = "fp32") -> dict:
    return {
        "1": {"class_type": LOADER, "inputs": {"model": TINY_RELEASE + "/", "dtype": dtype, "attention": "sdpa"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }


def test_object_info_lists_every_node_of_the_pack(comfy_server):
    ours = sorted(name for name, info in comfy_server.object_info.items() if info["python_module"] == PACK_MODULE)
    assert ours == sorted(double_view(comfy_server.base))
    assert all(comfy_server.object_info[name]["category"].startswith("RealisDance") for name in ours)


def test_the_double_renders_each_node_exactly_as_the_real_object_info(comfy_server):
    """Contract: tests/comfy_double/latest_io.node_info must equal the host's /object_info entry, key for key."""
    expected = double_view(comfy_server.base)  # same base folder, so the same model choices
    mismatches = []
    for name, mine in expected.items():
        status, real = comfy_server.request(f"/object_info/{name}")
        assert status == 200 and name in real, name
        real = real[name]
        for key in mine:
            if key not in real:  # a key only newer hosts render (the double follows the newest host)
                continue
            if key != "input":
                if mine[key] != real.get(key):
                    mismatches.append(f"{name}.{key}: double {mine[key]!r} host {real.get(key)!r}")
                continue
            for section in sorted(set(mine["input"]) | set(real["input"])):
                a, b = mine["input"].get(section, {}), real["input"].get(section, {})
                for item in sorted(set(a) | set(b)):
                    if a.get(item) != b.get(item):
                        mismatches.append(f"{name}.{section}.{item}: double {a.get(item)!r} host {b.get(item)!r}")
    assert not mismatches, "\n".join(mismatches)


def test_a_prompt_runs_and_its_history_reports_success(comfy_server):
    status, queued = comfy_server.request("/prompt", {"prompt": _loader_graph()})
    assert status == 200 and queued["node_errors"] == {}, queued
    entry = comfy_server.wait_for_history(queued["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert "ModelPatcher" in entry["outputs"]["2"]["text"][0]  # the deprecated loader gives the host's MODEL


def test_a_missing_input_is_refused_with_400_naming_our_node(comfy_server):
    graph = _loader_graph()
    del graph["1"]["inputs"]["model"]
    status, reply = comfy_server.request("/prompt", {"prompt": graph})
    assert status == 400 and reply["error"]["type"] == "prompt_outputs_failed_validation", reply
    errors = reply["node_errors"]["1"]
    assert errors["class_type"] == LOADER
    found = [(e["type"], e["extra_info"]["input_name"]) for e in errors["errors"]]
    assert found == [("required_input_missing", "model")]


def test_a_value_outside_a_combo_fails_in_our_node_with_one_clear_sentence(comfy_server):
    """v0.28 checks V3 combo values when validating (as the double does): HTTP 400 naming our node and input.
    0.3.64 did not, so there our node must refuse the value itself, in one sentence."""
    status, queued = comfy_server.request("/prompt", {"prompt": _loader_graph(dtype="fp33")})
    if status == 400:
        (error,) = queued["node_errors"]["1"]["errors"]
        assert queued["node_errors"]["1"]["class_type"] == LOADER
        assert error["type"] == "value_not_in_list" and error["extra_info"]["input_name"] == "dtype", error
        return
    assert status == 200, queued
    entry = comfy_server.wait_for_history(queued["prompt_id"])
    (error,) = [data for event, data in entry["status"]["messages"] if event == "execution_error"]
    assert (error["node_id"], error["node_type"]) == ("1", LOADER)
    assert error["exception_type"].startswith("realisdance.errors.")
    assert "fp33" in error["exception_message"] and error["exception_message"].count("\n") <= 1


def _slow_workflow(server, tiny_release, media):
    """A bundled workflow with a sampler (a node with a 'steps' input) whose files have tiny stand-ins, its steps
    raised so it runs long enough to interrupt: (prompt, sampler node id)."""
    for prompt in api_workflows().values():
        for node_id, node in prompt.items():
            if node["class_type"].startswith("RealisDance") and "steps" in node.get("inputs", {}):
                limit = server.object_info[node["class_type"]]["input"]["required"]["steps"][1].get("max", MANY_STEPS)
                slow = shrunk(prompt, steps=min(MANY_STEPS, limit))
                if not place_files(slow, server.base, tiny_release, media):
                    return slow, node_id
    pytest.skip("no bundled workflow with a sampler that runs on tiny models: nothing slow enough to interrupt")


def test_interrupt_stops_a_running_sampler_and_the_next_prompt_runs(comfy_server, host, tiny_release, media, tmp_path):
    prompt, sampler = _slow_workflow(comfy_server, tiny_release, media)
    job = {"url": comfy_server.url, "prompt": prompt, "node": sampler}
    report = run_driver(host, "interrupt_run", job, tmp_path, timeout=200)
    assert report.get("interrupt_status") == 200, report
    assert report["interrupted"] is not None, report
    assert report["interrupted"]["node_id"] == sampler and report["interrupt_to_stop_s"] < 10, report
    assert "execution_error" not in report["events"], report  # a clean stop, not a crash
    entry = comfy_server.wait_for_history(report["prompt_id"])
    assert entry["status"]["status_str"] == "error"
    test_a_prompt_runs_and_its_history_reports_success(comfy_server)  # the host is usable again


GVHMR_WIDGETS = {"width": 0, "height": 0, "fps": 30.0, "start_frame": 0, "frame_count": 0, "camera": "incam",
                 "match_intrinsics": True}  # fmt: skip


@pytest.mark.parametrize(
    "node, widgets",
    [("RealisDanceLoadGVHMR", GVHMR_WIDGETS), ("RealisDanceLoadHaMeR", {"start_frame": 0, "frame_count": 0})],
)
@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd", "/proc/self/environ"])
def test_a_prompt_cannot_make_a_file_node_read_outside_the_input_folder(comfy_server, node, widgets, path):
    """v0.28 refuses the value at validation (it is not one of the combo's files); 0.3.64 does not check combos,
    so our node refuses it in one sentence, without reading it or saying whether it exists."""
    prompt = {"1": {"class_type": node, "inputs": {"path": path, **widgets}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}  # fmt: skip
    status, queued = comfy_server.request("/prompt", {"prompt": prompt})
    if status == 400:
        (error,) = queued["node_errors"]["1"]["errors"]
        assert error["type"] == "value_not_in_list" and error["extra_info"]["input_name"] == "path", error
        return
    assert status == 200, queued
    entry = comfy_server.wait_for_history(queued["prompt_id"])
    (error,) = [data for event, data in entry["status"]["messages"] if event == "execution_error"]
    message = error["exception_message"]
    assert error["node_id"] == "1" and "outside ComfyUI's input folder" in message, error
    assert "root:" not in message and "\n" not in message.strip()


def test_the_server_offers_the_packs_subgraph_blueprint(comfy_server):
    """ComfyUI serves a pack's subgraphs/*.json as blueprints (/global_subgraphs): our one-node RealisDance."""
    status, listing = comfy_server.request("/global_subgraphs")
    assert status == 200, listing
    ours = [entry for entry in listing.values() if entry.get("name") == "RealisDance Pose to Video"]
    assert ours and ours[0]["source"] == "custom_node", listing
