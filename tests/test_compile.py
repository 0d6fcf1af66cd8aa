"""Regional torch.compile of the blocks: same output, and it keeps working with block streaming and LoRAs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import tiny_inputs
from lora_files import comfyui_keys, random_lora, write

from realisdance.lora import LoraSpec
from realisdance.memory import JobSize, MemoryOptions, ModelFacts, place_transformer, plan_memory
from realisdance.pipeline.model_patches import ModelPatches, patch_after_placement, patch_before_placement


def forward(model, inputs):
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


def streaming_plan(model):
    plan = plan_memory(ModelFacts(dict(model.config), "fp32"), JobSize(5, 64, 96), MemoryOptions(), free_bytes=None)
    return dataclasses.replace(plan, streamed_blocks=(1,))


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])  # inductor: the default; compiles C++ on a CPU
def test_compiled_blocks_give_the_eager_output(tiny_model, backend):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    eager = forward(model, inputs)
    assert patch_after_placement(model, ModelPatches(compile_backend=backend)) == len(model.blocks)
    torch.testing.assert_close(forward(model, inputs), eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(forward(model, inputs), eager, rtol=1e-5, atol=1e-5)  # the compiled graph reused


def test_compile_keeps_working_with_a_merged_lora_and_streamed_blocks(tiny_model, tmp_path):
    lora = tmp_path / "a.safetensors"
    reference, compiled = tiny_model("I2V"), tiny_model("I2V")
    write(lora, comfyui_keys(random_lora(reference, ["blocks.0.attn1.to_q", "blocks.1.ffn.net.0.proj"], alpha=1.0)))
    inputs = tiny_inputs(reference)
    patches = ModelPatches(loras=(LoraSpec(lora, 0.7),), compile_backend="aot_eager")
    for model in (reference, compiled):
        patch_before_placement(model, patches)
        place_transformer(model, streaming_plan(model), "cpu")
    patch_after_placement(compiled, patches)
    torch.testing.assert_close(forward(compiled, inputs), forward(reference, inputs), rtol=1e-5, atol=1e-5)
