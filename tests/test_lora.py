"""LoRA files on the transformer: each key layout merges as the hand-computed W + s * up @ down; bad files refused."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_inputs
from lora_files import comfyui_keys, expected_weights, kohya_keys, peft_keys, random_lora, write

from realisdance.errors import InputError
from realisdance.lora import LoraSpec, apply_loras, parse_lora_argument

MODULES = [
    "blocks.0.attn1.to_q",
    "blocks.1.attn2.to_out.0",
    "blocks.0.attn2.add_k_proj",  # the I2V image branch (k_img)
    "blocks.1.ffn.net.0.proj",
    "proj_out",  # head.head
    "condition_embedder.time_proj",  # time_projection.1
    "patch_embedding",  # a Conv3d: the low-rank pair is flattened over the kernel
]


def forward(model, inputs):
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


def assert_weights(model, expected):
    parameters = dict(model.named_parameters())
    for name, value in expected.items():
        torch.testing.assert_close(parameters[name].float(), value, rtol=1e-6, atol=1e-6, msg=name)


@pytest.mark.parametrize("layout", ["comfyui", "comfyui-lora_A", "kohya", "peft"])
def test_each_key_layout_merges_as_the_hand_computed_update(tiny_model, tmp_path, layout):
    model = tiny_model("I2V")
    alpha = None if layout == "peft" else 1.0  # rank 2, alpha 1: scale 0.5, so a missed alpha shows
    lora = random_lora(model, MODULES, alpha=alpha)
    tensors = {
        "comfyui": lambda: comfyui_keys(lora),
        "comfyui-lora_A": lambda: comfyui_keys(lora, down="lora_A", up="lora_B"),
        "kohya": lambda: kohya_keys(lora),
        "peft": lambda: peft_keys(lora),
    }[layout]()
    expected = expected_weights(model, lora, 0.7)
    apply_loras(model, [LoraSpec(write(tmp_path / "style.safetensors", tensors), 0.7)])
    assert_weights(model, expected)


def test_lightx2v_full_deltas_of_norms_biases_and_modulation_are_applied(tiny_model, tmp_path):
    """lightx2v distill LoRAs carry .diff (norm weights), .diff_b (biases) and blocks.N.diff_m (modulation), which
    diffusers' own Wan conversion drops."""
    model = tiny_model("I2V")
    lora = random_lora(model, ["blocks.0.attn1.to_q", "blocks.0.attn2.add_v_proj"])
    g = torch.Generator().manual_seed(5)
    parameters = dict(model.named_parameters())
    diffs = {
        name: torch.randn(parameters[name].shape, generator=g) * 0.1
        for name in [
            "blocks.0.attn1.to_q.bias",
            "blocks.1.attn2.norm_added_k.weight",  # cross_attn.norm_k_img.diff
            "blocks.0.norm2.weight",  # Wan's norm3 (the names swap)
            "blocks.1.scale_shift_table",  # blocks.1.diff_m
            "scale_shift_table",  # head.modulation.diff
        ]
    }
    expected = expected_weights(model, lora, 1.0, diffs)
    apply_loras(model, [LoraSpec(write(tmp_path / "distill.safetensors", comfyui_keys(lora, diffs)))])
    assert_weights(model, expected)


def test_strength_zero_leaves_the_output_bit_identical(tiny_model, tmp_path):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    before = forward(model, inputs)
    path = write(tmp_path / "a.safetensors", comfyui_keys(random_lora(model, MODULES, alpha=4.0)))
    apply_loras(model, [LoraSpec(path, 0.0)])
    torch.testing.assert_close(forward(model, inputs), before, rtol=0, atol=0)


def test_two_loras_add_up_in_order(tiny_model, tmp_path):
    model = tiny_model("T2V")
    first, second = (
        random_lora(model, ["blocks.0.attn1.to_k"], seed=1),
        random_lora(model, ["blocks.0.attn1.to_k"], seed=2),
    )
    expected = expected_weights(model, first, 0.5)
    weight = expected["blocks.0.attn1.to_k.weight"]
    product = second["blocks.0.attn1.to_k"]["up"] @ second["blocks.0.attn1.to_k"]["down"]
    a, b = write(tmp_path / "a.safetensors", comfyui_keys(first)), write(tmp_path / "b.safetensors", peft_keys(second))
    apply_loras(model, [LoraSpec(a, 0.5), LoraSpec(b, 2.0)])
    assert_weights(model, {"blocks.0.attn1.to_k.weight": weight + 2.0 * product})


def test_adapter_mode_gives_the_merged_output(tiny_model, tmp_path):
    pytest.importorskip("peft")
    merged, adapted = tiny_model("I2V"), tiny_model("I2V")
    inputs = tiny_inputs(merged)
    lora = random_lora(merged, [m for m in MODULES if m != "patch_embedding"], alpha=1.0)
    path = write(tmp_path / "a.safetensors", comfyui_keys(lora))
    apply_loras(merged, [LoraSpec(path, 0.8)])
    apply_loras(adapted, [LoraSpec(path, 0.8)], mode="adapter")
    assert any("lora_A" in name for name, _ in adapted.named_parameters())  # really kept as adapters
    torch.testing.assert_close(forward(adapted, inputs), forward(merged, inputs), rtol=1e-5, atol=1e-5)


def test_fp8_storage_after_merging_stays_close_to_the_merged_model(tiny_model, tmp_path):
    from realisdance.memory.streaming import convert_to_fp8

    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    apply_loras(model, [LoraSpec(write(tmp_path / "a.safetensors", comfyui_keys(random_lora(model, MODULES))))])
    merged = forward(model, inputs)
    convert_to_fp8(model, "fp8_e4m3fn")
    error = (forward(model, inputs).float() - merged).abs().mean() / merged.abs().mean()
    assert error < 0.1


@pytest.mark.parametrize(
    "tensors, words",
    [
        ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 4)}, "none of its keys"),
        ({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(2, 1536),
          "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(1536, 2)}, "another model size"),
        ({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(2, 256)}, "no matching lora_up"),
        ({"diffusion_model.blocks.0.self_attn.q.diff_b": torch.zeros(256),
          "diffusion_model.blocks.0.self_attn.q_proj_typo.lora_up.weight": torch.zeros(256, 2)}, "name nothing"),
    ],
)  # fmt: skip
def test_loras_for_other_models_are_refused_with_a_sentence_and_leave_the_weights_alone(
    tiny_model, tmp_path, tensors, words
):
    model = tiny_model("I2V")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    good = write(tmp_path / "good.safetensors", comfyui_keys(random_lora(model, MODULES)))
    bad = write(tmp_path / "bad.safetensors", tensors)
    with pytest.raises(InputError, match=words):
        apply_loras(model, [LoraSpec(good), LoraSpec(bad)])  # the good one is not merged either
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


def test_an_image_to_video_lora_on_a_text_to_video_model_says_so(tiny_model, tmp_path):
    i2v, t2v = tiny_model("I2V"), tiny_model("T2V")
    path = write(tmp_path / "i2v.safetensors", comfyui_keys(random_lora(i2v, ["blocks.0.attn2.add_k_proj"])))
    with pytest.raises(InputError, match="image-to-video LoRA"):
        apply_loras(t2v, [LoraSpec(path)])


def test_pickled_lora_files_are_not_read(tiny_model, tmp_path):
    path = tmp_path / "old.pt"
    torch.save({}, path)
    with pytest.raises(InputError, match="only .safetensors"):
        apply_loras(tiny_model("T2V"), [LoraSpec(path)])


@pytest.mark.parametrize(
    "text, path, strength",
    [("a.safetensors", "a.safetensors", 1.0), ("dir/a.safetensors:0.6", "dir/a.safetensors", 0.6),
     ("C:\\loras\\a.safetensors", "C:\\loras\\a.safetensors", 1.0),
     ("C:\\a.safetensors:-1", "C:\\a.safetensors", -1.0)],
)  # fmt: skip
def test_lora_arguments_take_an_optional_strength(text, path, strength):
    spec = parse_lora_argument(text)
    assert (str(spec.path), spec.strength) == (path, strength)


@pytest.mark.parametrize("text", ["a.safetensors:strong", "a.safetensors:nan"])
def test_bad_lora_strengths_are_refused(text):
    with pytest.raises(InputError, match="strength"):
        parse_lora_argument(text)


def test_adapters_keep_working_on_streamed_blocks(tiny_model, tmp_path):
    import dataclasses

    from realisdance.memory import JobSize, MemoryOptions, ModelFacts, place_transformer, plan_memory

    pytest.importorskip("peft")
    merged, adapted = tiny_model("I2V"), tiny_model("I2V")
    inputs = tiny_inputs(merged)
    path = write(tmp_path / "a.safetensors", comfyui_keys(random_lora(merged, ["blocks.1.attn1.to_v"], alpha=1.0)))
    apply_loras(merged, [LoraSpec(path, 0.8)])
    apply_loras(adapted, [LoraSpec(path, 0.8)], mode="adapter")
    plan = plan_memory(ModelFacts(dict(adapted.config), "fp32"), JobSize(5, 64, 96), MemoryOptions(), free_bytes=None)
    place_transformer(adapted, dataclasses.replace(plan, streamed_blocks=(0, 1)), "cpu")
    torch.testing.assert_close(forward(adapted, inputs), forward(merged, inputs), rtol=1e-5, atol=1e-5)
