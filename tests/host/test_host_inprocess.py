"""The pack inside a real ComfyUI, in-process (in a subprocess): registration, validation, execution of graphs."""

from __future__ import annotations

import os

import pytest
from host_env import PACK_FOLDER, PACK_MODULE, REPO_ROOT, TINY_RELEASE, double_view, make_base_dir, run_driver
from workflow_files import NO_WORKFLOWS, api_workflows, place_files, shrunk

LOADER_GRAPH = {
    "1": {
        "class_type": "RealisDanceModelLoader",
        "inputs": {"model": TINY_RELEASE + "/", "dtype": "fp32", "attention": "sdpa"},
    },
    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},  # a core output node that takes any type
}
WORKFLOWS = api_workflows()


@pytest.fixture(scope="module")
def run(host, tiny_release, media, tmp_path_factory):
    """One host process: the pack loaded from custom_nodes/, the loader graph and every bundled workflow run."""
    work = tmp_path_factory.mktemp("inprocess")
    base = make_base_dir(work / "base", tiny_release)
    prompts = {"loader": {"prompt": LOADER_GRAPH}, "lone_loader": {"prompt": LOADER_GRAPH, "targets": ["1"]}}
    missing = {}
    for name, prompt in WORKFLOWS.items():
        prompt = shrunk(prompt)
        missing[name] = place_files(prompt, base, tiny_release, media)
        prompts[f"workflow:{name}"] = {"prompt": prompt}
    report = run_driver(
        host, "inprocess_host", {"base_dir": str(base), "pack_module": PACK_MODULE, "prompts": prompts}, work
    )
    report.update(report.pop("results"))  # per prompt name
    report["double"] = double_view(base)
    report["missing"] = missing
    return report


def _executed_ok(result: dict) -> None:
    assert result["valid"], (result["error"], result["node_errors"])
    assert "exception" not in result, result["exception"]
    errors = [data for event, data in result["messages"] if event == "execution_error"]
    assert not errors, errors
    assert result["success"] and result["messages"][-1][0] == "execution_success", result["messages"]


def test_the_host_registers_exactly_the_nodes_of_the_pack(run):
    assert run["registered"], "no node of the pack was registered (see the host's log for the import error)"
    assert run["registered"] == sorted(run["double"])
    assert os.path.realpath(run["web_dirs"][PACK_FOLDER]) == str(REPO_ROOT / "js")


def test_a_loader_graph_validates_and_executes(run):
    result = run["loader"]
    _executed_ok(result)
    preview = result["history"]["2"]["text"][0]  # PreviewAny's text of what our loader returned
    assert "ModelPatcher" in preview  # the deprecated loader gives the host's MODEL now
    assert {"executing", "executed", "execution_success"} <= set(result["events"])


def test_a_lone_loader_executes_as_a_partial_target(run):
    _executed_ok(run["lone_loader"])


@pytest.mark.parametrize("name", sorted(WORKFLOWS) or NO_WORKFLOWS)
def test_each_bundled_api_workflow_validates_and_executes_on_tiny_models(run, name):
    if run["missing"][name]:
        pytest.skip(f"no tiny stand-in for {run['missing'][name]} (extend tests/host/workflow_files.py)")
    result = run[f"workflow:{name}"]
    _executed_ok(result)
    assert result["history"], "the workflow's output nodes reported nothing"
    sampler_types = ("RealisDanceSampler", "RealisDanceReleaseSampler", "KSampler")  # KSampler: the fast recipe
    samplers = [node_id for node_id, node in WORKFLOWS[name].items() if node["class_type"] in sampler_types]
    assert samplers
    for sampler in samplers:  # the host's own latent-to-RGB previewer drew every step of our sampler
        previews = [event for event in result["progress"] if event[0] == sampler and event[3] is not None]
        assert previews and all(event[3] == "JPEG" for event in previews), result["progress"]
    for node_id, ui in result["history"].items():
        if "realisdance_summary" in ui:  # the contract with js/realisdance.js: one line of text
            summary = ui["realisdance_summary"]
            assert isinstance(summary, list) and len(summary) == 1 and isinstance(summary[0], str), (node_id, ui)
