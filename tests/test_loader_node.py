"""RealisDanceModelLoader inside the ComfyUI double: choices, loading, dtypes, errors, Cancel."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from comfy_double import PromptValidationError
from comfy_double.latest_io import node_info
from diffusers import WanTransformer3DModel
from helpers import randomize_, tiny_inputs
from safetensors.torch import save_file

from realisdance import model_handle as handle_module
from realisdance.checkpoints import DTYPES, save_diffusers_folder, save_single_file
from realisdance.errors import CheckpointError, InputError, RealisDanceError
from realisdance.model import build_transformer, named_config
from realisdance.model_handle import ModelHandle

pytest_plugins = ["comfy_double.fixtures"]  # the `comfy` and `comfy_pack` fixtures

LOADER = "RealisDanceModelLoader"
FILE = "tiny_realisdance.safetensors"
FOLDER = "TinyRelease/"


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return randomize_(build_transformer(named_config("tiny-I2V")), seed=3)


@pytest.fixture
def models(comfy, reference):
    """A single ComfyUI-named file in diffusion_models/ and an official release folder in models/realisdance/."""
    save_single_file(reference, comfy.model_dir("diffusion_models") / FILE, naming="comfyui")
    release = comfy.model_dir("realisdance") / FOLDER.rstrip("/")
    save_diffusers_folder(reference, release / "transformer")
    (release / "model_index.json").write_text(json.dumps({"_class_name": "RealisDanceDiTPipeline"}))
    # Neither of these is a transformer choice: pose assets, and a file of another type.
    (comfy.model_dir("realisdance") / "body_models" / "smplx").mkdir(parents=True)
    (comfy.model_dir("diffusion_models") / "notes.txt").write_text("not a model")
    return comfy.install_pack()


def _prompt(model, dtype="auto", attention="sdpa"):
    return {"1": {"class_type": LOADER, "inputs": {"model": model, "dtype": dtype, "attention": attention}}}


def _load(comfy, model, **kwargs):
    result = comfy.run(_prompt(model, **kwargs), targets=["1"])
    return result.raise_error().output("1")


def _forward(model, reference):
    inputs = tiny_inputs(reference)
    with torch.no_grad():
        return model(**inputs).sample.float(), reference(**inputs).sample


def test_schema_lists_files_and_release_folders_and_the_supported_dtypes(comfy, models):
    required = node_info(models.node(LOADER))["input"]["required"]
    assert required["model"][1]["options"] == [FILE, FOLDER]
    assert required["dtype"][1]["options"][0] == "auto" and set(required["dtype"][1]["options"]) == {"auto", *DTYPES}
    assert required["dtype"][1]["default"] == "auto"
    assert required["attention"][1]["options"][0] == "sdpa" and required["attention"][1]["default"] == "sdpa"
    assert node_info(models.node(LOADER))["output"] == ["REALISDANCE_MODEL"]


@pytest.mark.parametrize("choice", [FILE, FOLDER])
def test_both_layouts_load_through_the_graph_into_a_working_model(comfy, models, reference, choice):
    handle = _load(comfy, choice, dtype="fp32")
    assert isinstance(handle, ModelHandle)  # the one core class: the pack imports top-level `realisdance`
    assert (handle.dtype, handle.attention) == ("fp32", "sdpa")
    assert handle.path.startswith(str(comfy.models_dir))
    out, expected = _forward(handle.transformer, reference)
    torch.testing.assert_close(out, expected)
    # sdpa is set explicitly (diffusers' "native"), so no process-wide backend chosen earlier can leak in.
    backends = {m.processor._attention_backend for m in handle.transformer.modules() if hasattr(m, "processor")}
    assert {getattr(b, "value", b) for b in backends} == {"native"}
    # Progress reached the end for node "1"; memory was tidied without evicting other models into host RAM.
    last = comfy.progress_events[-1]
    assert (last.node_id, last.value) == ("1", last.total) and last.total > 10
    assert "soft_empty_cache" in comfy.model_management.calls
    assert "unload_all_models" not in comfy.model_management.calls


def test_fp8_choice_stores_fp8_weights_that_still_run(comfy, models, reference):
    handle = _load(comfy, FILE, dtype="fp8_e4m3fn")
    params = dict(handle.transformer.named_parameters())
    assert handle.dtype == "fp8_e4m3fn"
    assert params["blocks.0.attn1.to_q.weight"].dtype == torch.float8_e4m3fn
    assert params["blocks.0.scale_shift_table"].dtype == torch.float32
    with torch.inference_mode():  # as in ComfyUI, which loaded it (and samples) under inference mode
        out, expected = _forward(handle.transformer, reference)
    assert torch.isfinite(out).all()
    assert (out - expected).abs().max() / expected.abs().max() < 0.05


def test_invalid_widget_values_fail_validation_like_the_host(comfy, models):
    with pytest.raises(PromptValidationError) as caught:
        comfy.validate(_prompt("absent.safetensors", dtype="fp64", attention="sage"), targets=["1"])
    assert caught.value.types("1") == ["value_not_in_list"] * 3
    with pytest.raises(PromptValidationError) as caught:
        comfy.validate({"1": {"class_type": LOADER, "inputs": {"dtype": "auto", "attention": "sdpa"}}}, ["1"])
    assert caught.value.types("1") == ["required_input_missing"]


def test_plain_wan_and_broken_files_report_the_core_error(comfy, reference):
    folder = comfy.model_dir("diffusion_models")
    known = set(WanTransformer3DModel._get_init_keys(WanTransformer3DModel)) - {"self"}
    wan = WanTransformer3DModel(**{k: v for k, v in named_config("tiny-I2V").items() if k in known})
    save_file({k: v.contiguous() for k, v in wan.state_dict().items()}, folder / "plain_wan.safetensors")
    (folder / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    comfy.install_pack()

    result = comfy.run(_prompt("plain_wan.safetensors"), targets=["1"])
    assert (result.status, result.error_node) == ("error", "1")
    assert isinstance(result.error, CheckpointError)  # the core's own error, unwrapped: ComfyUI shows its message
    assert "plain Wan 2.1 DiT without the RealisDance modules" in str(result.error)

    result = comfy.run(_prompt("broken.safetensors"), targets=["1"])
    assert result.status == "error" and isinstance(result.error, CheckpointError)
    assert "broken.safetensors" in str(result.error)


def test_a_choice_whose_file_vanished_names_where_it_was_looked_for(comfy, models):
    host = sys.modules[f"{models.module_name}.nodes.host"]
    with pytest.raises(CheckpointError, match="gone.safetensors.*diffusion_models"):
        host.resolve_model_path("gone.safetensors")
    with pytest.raises(CheckpointError, match="Gone/.*realisdance"):
        host.resolve_model_path("Gone/")


def test_an_unusable_attention_backend_is_a_clear_error(comfy, models, monkeypatch):
    with pytest.raises(InputError, match="unknown attention backend"):
        handle_module.check_attention("magic")
    # Pretend sageattention is installed: the option appears, and diffusers' refusal becomes our readable error.
    real_installed = handle_module._installed
    monkeypatch.setattr(handle_module, "_installed", lambda name: name == "sageattention" or real_installed(name))
    assert "sage" in node_info(models.node(LOADER))["input"]["required"]["attention"][1]["options"]
    result = comfy.run(_prompt(FILE, attention="sage"), targets=["1"])
    assert result.status == "error" and isinstance(result.error, RealisDanceError)
    assert "attention backend 'sage'" in str(result.error) and "sdpa" in str(result.error)


def test_cancel_before_or_while_loading_stops_the_node_and_a_rerun_works(comfy, models):
    # Cancel pressed as the loader starts (after the host's own between-nodes check).
    result = comfy.run(_prompt(FILE), targets=["1"], on_node_start=lambda node_id: comfy.interrupt())
    assert (result.status, result.error_node, result.outputs) == ("interrupted", "1", {})
    assert not comfy.model_management.processing_interrupted()  # the flag is consumed, as in the host
    assert comfy.progress_events == []

    # Cancel pressed after three tensors; this hook (unlike main.py's) never checks, so the node itself must.
    seen = []

    def hook(value, total, preview, node_id=None):
        seen.append(value)
        if value == 3:
            comfy.interrupt()

    comfy.utils.set_progress_bar_global_hook(hook)
    result = comfy.run(_prompt(FILE), targets=["1"])
    assert (result.status, result.outputs, seen) == ("interrupted", {}, [1, 2, 3])

    comfy.utils.set_progress_bar_global_hook(None)
    assert isinstance(_load(comfy, FILE), ModelHandle)
