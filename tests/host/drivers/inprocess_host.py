"""Load the real ComfyUI in this process, register the pack, validate and execute API prompts; write a JSON report.

Run with the host's Python (tests/host/host_env.run_driver): ``python inprocess_host.py job.json``. The job names
``comfy_root``, ``base_dir`` (custom_nodes/ holds the pack), ``pack_module`` and ``prompts`` ({name: {"prompt",
"targets"}}; targets None = the prompt's output nodes). The report holds the registered nodes of the pack, their
node info as /object_info renders it, and per prompt the validation result, the executor's messages, the history
outputs and the seconds taken.
"""

import asyncio
import json
import sys
import time
import traceback


def main(job_path: str) -> None:
    job = json.loads(open(job_path, encoding="utf-8").read())
    sys.path.insert(0, job["comfy_root"])
    started = time.perf_counter()
    from comfy.cli_args import args

    args.cpu = True  # before comfy.model_management is imported: it would otherwise look for CUDA
    # main.py's default on a CPU is no previews; ask for latent-to-RGB so the sampler's previews run the host's code.
    from comfy.cli_args import LatentPreviewMethod

    args.preview_method = LatentPreviewMethod.Latent2RGB
    args.base_directory = job["base_dir"]  # read once, when folder_paths is first imported (utils.extra_config does)
    # Before nodes.py: it puts comfy/ on sys.path, whose utils.py would then shadow the top-level utils package.
    import utils.extra_config  # noqa: F401, I001 (this order is required)
    import comfy.model_management  # noqa: F401
    import execution
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    import comfy.utils

    comfy.utils.set_progress_bar_global_hook(_record_progress)  # what main.py installs, minus the websocket
    mappings = nodes.NODE_CLASS_MAPPINGS
    ours = {
        name: cls
        for name, cls in mappings.items()
        if getattr(cls, "RELATIVE_PYTHON_MODULE", None) == job["pack_module"]
    }
    report = {
        "startup_s": time.perf_counter() - started,
        "node_count": len(nodes.NODE_CLASS_MAPPINGS),
        "registered": sorted(ours),
        "node_info": {name: cls.GET_NODE_INFO_V1() for name, cls in ours.items()},
        "web_dirs": dict(nodes.EXTENSION_WEB_DIRS),
        "results": {},
    }
    for name, item in job["prompts"].items():
        report["results"][name] = run_prompt(execution, name, item["prompt"], item.get("targets"))
    with open(job["result"], "w", encoding="utf-8") as out:
        json.dump(report, out, default=repr)


_PROGRESS: list = []  # [node id, value, total, preview format or None, preview size or None] of the running prompt
_CURRENT: dict = {}


def _record_progress(value, total, preview, prompt_id=None, node_id=None):
    server = _CURRENT.get("server")
    node = node_id or (server.last_node_id if server is not None else None)
    kind, size = (preview[0], list(preview[1].size)) if preview is not None else (None, None)
    _PROGRESS.append([node, value, total, kind, size])


class _Server:
    """What PromptExecutor needs of PromptServer: messages go to a list instead of websockets."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.messages = []

    def send_sync(self, event, data, sid=None):
        self.messages.append([event, data])


def run_prompt(execution, prompt_id: str, prompt: dict, targets) -> dict:
    started = time.perf_counter()
    if targets is None:
        valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
    else:  # e.g. a lone loader, which is no output node: validate it the way validate_prompt validates outputs
        validated, outputs, node_errors, error = {}, list(targets), {}, None
        for target in targets:
            if prompt[target]["class_type"] not in execution.nodes.NODE_CLASS_MAPPINGS:
                return {"valid": False, "error": f"{prompt[target]['class_type']} is not registered", "node_errors": {}}
            ok, reasons, _ = asyncio.run(execution.validate_inputs(prompt_id, prompt, target, validated))
            if not ok:
                node_errors[target] = {"errors": reasons, "class_type": prompt[target]["class_type"]}
        valid = not node_errors
    result = {"valid": valid, "error": error, "node_errors": node_errors, "outputs": outputs}
    if not valid:
        return result
    server = _Server()
    _CURRENT["server"] = server
    _PROGRESS.clear()
    executor = _new_executor(execution, server)
    try:
        executor.execute(prompt, prompt_id, {"client_id": "driver"}, outputs)
    except Exception:  # the executor reports node errors as messages; anything else is a harness failure
        result["exception"] = traceback.format_exc()
    result["seconds"] = time.perf_counter() - started
    result["success"] = executor.success
    result["messages"] = [[event, _slim(data)] for event, data in executor.status_messages]
    result["events"] = sorted({event for event, _ in server.messages})
    result["history"] = getattr(executor, "history_result", {}).get("outputs", {})
    result["progress"] = list(_PROGRESS)
    return result


def _new_executor(execution, server):
    """A PromptExecutor as main.py builds it: v0.28 reads cache_args (a dict) while building its caches; v0.3.64
    takes only the server and the cache type."""
    import inspect

    if "cache_args" in inspect.signature(execution.PromptExecutor).parameters:
        return execution.PromptExecutor(server, cache_args={"lru": 0, "ram": 0, "ram_inactive": 0})
    return execution.PromptExecutor(server)


def _slim(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("current_inputs", "current_outputs")}


if __name__ == "__main__":
    main(sys.argv[1])
