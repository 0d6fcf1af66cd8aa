"""RealisDanceModelLoader (deprecated) inside the ComfyUI double: its choices, and that it loads the native MODEL
(the host's Wan classes with the RealisDance modules) from both layouts, with the core's errors and Cancel."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import torch
from comfy_double import PromptValidationError
from comfy_double.latest_io import node_info
from diffusers import WanTransformer3DModel
from helpers import randomize_
from safetensors.torch import save_file

from realisdance import attention as attention_module
from realisdance.checkpoints import DTYPES, save_diffusers_folder, save_single_file
from realisdance.checkpoints.keymap import diffusers_to_wan
from realisdance.errors import CheckpointError, InputError
from realisdance.model import build_transformer, named_config

pytest_plugins = ["comfy_double.fixtures"]  # the `comfy` and `comfy_pack` fixtures

LOADER = "RealisDanceModelLoader"
FILE = "tiny_realisdance.safetensors"
FOLDER = "TinyRelease/"


@pytest.fixture(scope="module")
def reference():
    # ComfyUI's Wan classes take only the native input widths (text 4096, time 256, CLIP 1280).
    return randomize_(build_transformer(named_config("tiny-native-I2V")), seed=3)


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


def test_schema_lists_files_and_release_folders_and_the_supported_dtypes(comfy, models):
    required = node_info(models.node(LOADER))["input"]["required"]
    assert required["model"][1]["options"] == [FILE, FOLDER]
    assert required["dtype"][1]["options"][0] == "auto" and set(required["dtype"][1]["options"]) == {"auto", *DTYPES}
    assert required["dtype"][1]["default"] == "auto"
    assert required["attention"][1]["options"][0] == "sdpa" and required["attention"][1]["default"] == "sdpa"
    assert node_info(models.node(LOADER))["output"] == ["REALISDANCE_MODEL"]  # saved workflows keep their links


@pytest.mark.parametrize("choice", [FILE, FOLDER])
def test_both_layouts_load_the_native_model_with_the_files_weights(comfy, models, reference, choice):
    model = _load(comfy, choice, dtype="fp32")
    native = sys.modules[f"{models.module_name}.nodes.native.model_base"]
    assert native.is_realisdance(model)  # the host's Wan subclass, as 'RealisDance-DiT Loader (MODEL)' loads it
    loaded = model.get_model_object("diffusion_model").state_dict()
    expected = {diffusers_to_wan(name): value for name, value in reference.state_dict().items()}
    expected = {name: value for name, value in expected.items() if ".norm_added_q." not in name}
    assert set(loaded) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(loaded[name].float(), value.float(), rtol=0, atol=0, msg=name)
    assert model.get_model_object("model_sampling").shift == 5.0  # the release's flow shift
    # Memory was tidied before the load without evicting other models into host RAM.
    assert "soft_empty_cache" in comfy.model_management.calls
    assert "unload_all_models" not in comfy.model_management.calls


def test_a_storage_choice_becomes_the_hosts_weight_dtype(comfy, models):
    model = _load(comfy, FILE, dtype="bf16")
    assert model.get_model_object("diffusion_model").blocks[0].ffn[0].weight.dtype == torch.bfloat16


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
    wan = WanTransformer3DModel(**{k: v for k, v in named_config("tiny-native-I2V").items() if k in known})
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


def test_an_attention_choice_is_checked_and_then_left_to_comfyui(comfy, models, monkeypatch, caplog):
    with pytest.raises(InputError, match="unknown attention backend"):
        attention_module.check_attention("magic")
    # A saved workflow with sage (installed): the model loads, and the log says where the choice lives now.
    real_installed = attention_module._installed
    monkeypatch.setattr(attention_module, "_installed", lambda name: name == "sageattention" or real_installed(name))
    assert "sage" in node_info(models.node(LOADER))["input"]["required"]["attention"][1]["options"]
    with caplog.at_level(logging.WARNING):
        model = _load(comfy, FILE, attention="sage")
    assert model.get_model_object("diffusion_model") is not None
    assert "--use-sage-attention" in caplog.text


def test_cancel_as_the_loader_starts_stops_the_node_and_a_rerun_works(comfy, models):
    result = comfy.run(_prompt(FILE), targets=["1"], on_node_start=lambda node_id: comfy.interrupt())
    assert (result.status, result.error_node, result.outputs) == ("interrupted", "1", {})
    assert not comfy.model_management.processing_interrupted()  # the flag is consumed, as in the host
    assert _load(comfy, FILE).get_model_object("diffusion_model") is not None
