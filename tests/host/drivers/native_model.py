"""RealisDance-DiT as a native ComfyUI model, checked inside the real host against the core transformer.

Run with the host's Python (tests/host/host_env.run_driver): ``python native_model.py job.json``. The job names
``comfy_root``, ``base_dir`` (custom_nodes/ holds the pack), ``checkpoints`` ({name: path} of RealisDance-DiT files
and folders written by the test from one core model) and ``cases`` (forward inputs saved with torch.save, and the
core model's output for each). For every checkpoint the driver loads a MODEL with the pack's native loader and with
ComfyUI's own "Load Diffusion Model" code path, runs each case through the native forward and reports the largest
absolute difference to the core output; it also reports what the host made of the model (classes, dtype, detection)
and the error text for the files it must refuse.
"""

import asyncio
import json
import sys
import traceback


def _pack_module(suffix: str):
    """A module of the pack under the package name the host gave the pack (derived from its folder)."""
    import importlib
    import os

    root = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and os.path.realpath(path) == os.path.join(root, "__init__.py") and name != "__main__":
            return importlib.import_module(name + suffix)
    raise RuntimeError("the host did not import the pack")


def main(job_path: str) -> None:
    job = json.loads(open(job_path, encoding="utf-8").read())
    sys.path.insert(0, job["comfy_root"])
    from comfy.cli_args import args

    args.cpu = True
    args.base_directory = job["base_dir"]
    import utils.extra_config  # noqa: F401, I001 (before nodes.py, see inprocess_host.py)
    import comfy.model_management  # noqa: F401
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    import comfy.sd
    import torch

    loading = _pack_module(".nodes.native.loading")
    model_base = _pack_module(".nodes.native.model_base")
    cases = torch.load(job["cases"], weights_only=True)
    report = {"checkpoints": {}, "refusals": {}}
    for name, path in job["checkpoints"].items():
        entry = report["checkpoints"][name] = {}
        try:
            patcher = loading.load_native_model(path, job.get("weight_dtype", "fp32"))
            entry.update(_describe(patcher, model_base))
            entry["max_abs_error"] = _compare(patcher, cases, job["rope_variants"])
        except Exception:
            entry["exception"] = traceback.format_exc()
    for name, path in job.get("stock_loader", {}).items():
        entry = report["checkpoints"][f"stock:{name}"] = {}
        try:
            patcher = comfy.sd.load_diffusion_model(path, model_options={"dtype": torch.float32})
            entry.update(_describe(patcher, model_base))
            entry["max_abs_error"] = _compare(patcher, cases, job["rope_variants"])
        except Exception:
            entry["exception"] = traceback.format_exc()
    for name, path in job.get("refuse", {}).items():
        try:
            loading.load_native_model(path, "default")
            report["refusals"][name] = None
        except Exception as err:  # the pack's errors are one sentence; anything else is reported as is
            report["refusals"][name] = f"{type(err).__name__}: {err}"
    with open(job["result"], "w", encoding="utf-8") as out:
        json.dump(report, out, default=repr)


def _describe(patcher, model_base) -> dict:
    model = patcher.model
    return {
        "patcher": type(patcher).__name__,
        "model_class": type(model).__name__,
        "diffusion_model_class": type(model.diffusion_model).__name__,
        "is_realisdance": model_base.is_realisdance(patcher),
        "config_class": type(model.model_config).__name__,
        "shift": float(model.model_sampling.shift),
        "rope_shift": repr(model.diffusion_model.rope_shift),
        "add_cond_in_dim": model.diffusion_model.add_conv_in.in_channels,
    }


def _compare(patcher, cases, rope_variants: dict) -> dict[str, list[float]]:
    """{variant: [max abs error per case]}; each variant sets the RoPE flags as a config.json would."""
    from realisdance.model.rope import RopeShift

    diffusion_model = patcher.model.diffusion_model
    loaded_shift = diffusion_model.rope_shift
    errors = {}
    for variant, flags in rope_variants.items():
        diffusion_model.rope_shift = RopeShift(*flags)
        errors[variant] = [_case_error(diffusion_model, case, variant) for case in cases]
    diffusion_model.rope_shift = loaded_shift
    return errors


def _case_error(diffusion_model, case, variant) -> float:
    import torch

    with torch.no_grad():
        out = diffusion_model(
            case["hidden"],
            case["timestep"],
            case["text"],
            clip_fea=case["clip"],
            transformer_options={},
            rd_pose=case["pose"],
            rd_reference=case["reference"],
        )
    return float((out.float() - case["expected"][variant]).abs().max())


if __name__ == "__main__":
    main(sys.argv[1])
