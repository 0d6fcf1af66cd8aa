"""A LoRA from ``realisdance train --train lora`` inside the real host: ComfyUI's own LoraLoaderModelOnly on the
native RealisDance MODEL gives what the pack's LoRA loading gives.

The file is what the trainer exports (``export_lora``): adapters on every block's self-attention in the original-Wan
/ ComfyUI naming with the scale baked into ``lora_up``, and the new modules (pose patchifier, zero projection,
reference patchifier) as ``.diff`` / ``.diff_b`` deltas. The expected result is the native model of a release whose
transformer has the same LoRA merged by the pack (``apply_loras``, tested equal to the trained adapter model in
tests/training). Every key must reach the host's model: a LoRA whose new-module deltas were dropped would land
elsewhere.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from host_env import make_base_dir, run_driver, saved_latents
from safetensors.torch import load_file
from test_host_native_sampling import NATIVE_RELEASE, _loaders, condition_inputs

TUNED_RELEASE = "TinyNativeTuned"
STEPS, FRAMES, MAX_AREA, SEED = 2, 5, 128 * 224, 11
RELATIVE_TOLERANCE = 1e-3


def trained_lora_prompt() -> dict:
    shared = condition_inputs(FRAMES, MAX_AREA)
    sampling = {"seed": SEED, "steps": STEPS, "cfg": 2.0, "denoise": 1.0}
    native = {"positive": ["tovideo", 0], "negative": ["tovideo", 1], "latent": ["tovideo", 2], **sampling}
    strengths = {"pose_strength": 1.0, "pose_start_percent": 0.0, "pose_end_percent": 1.0, "reference_strength": 1.0}
    prompt = {
        **_loaders(""),
        "merged_model": {
            "class_type": "RealisDanceLoadModel",
            "inputs": {"model": TUNED_RELEASE + "/", "weight_dtype": "fp32"},
        },
        "merged": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["merged_model", 0], **native}},
        "model": {
            "class_type": "RealisDanceLoadModel",
            "inputs": {"model": NATIVE_RELEASE + "/", "weight_dtype": "fp32"},
        },  # fmt: skip
        "tovideo": {"class_type": "RealisDanceToVideo", "inputs": {"clip_vision": ["clip", 0], **shared, **strengths}},
        "lora": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["model", 0], "lora_name": "trained.safetensors", "strength_model": 1.0},
        },
        "with_lora": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["lora", 0], **native}},
        "without": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["model", 0], **native}},
    }
    for name in ("merged", "with_lora", "without"):
        prompt[f"save_{name}"] = {
            "class_type": "SaveLatent",
            "inputs": {"samples": [name, 0], "filename_prefix": f"latents/{name}"},
        }
    return prompt


def write_trained_lora(release, path) -> None:
    """What the trainer exports, with every trained part clearly away from its start (a short real run moves the
    LoRA's up-projections by a learning rate only)."""
    from realisdance.checkpoints import load_transformer
    from realisdance.training.export import base_of_new_modules, export_lora
    from realisdance.training.parts import NEW_MODULES, TrainableParts, select_trainable

    model = load_transformer(release, dtype="fp32")
    base = base_of_new_modules(model)
    select_trainable(model, TrainableParts("lora", lora_rank=4), seed=3)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name or name.split(".")[0] in NEW_MODULES:
                parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    export_lora(model, base, path)


@pytest.fixture(scope="module")
def latents(host, tiny_release, media, tmp_path_factory) -> dict[str, torch.Tensor]:
    from realisdance.checkpoints import load_transformer
    from realisdance.checkpoints.saver import save_diffusers_folder
    from realisdance.lora import LoraSpec, apply_loras
    from realisdance.tiny import build_tiny_release

    work = tmp_path_factory.mktemp("trained_lora")
    native = build_tiny_release(work / "native_release", variant="native-I2V")
    base = make_base_dir(work / "base", tiny_release)
    (base / "models" / "realisdance" / NATIVE_RELEASE).symlink_to(native, target_is_directory=True)
    (base / "models" / "loras").mkdir(parents=True)
    lora_file = base / "models" / "loras" / "trained.safetensors"
    write_trained_lora(native, lora_file)
    assert any(key.endswith(".diff") for key in load_file(str(lora_file)))  # the new modules travel as deltas
    tuned = work / "tuned_release"
    shutil.copytree(native, tuned, symlinks=True)
    shutil.rmtree(tuned / "transformer")
    merged = load_transformer(native, dtype="fp32")
    apply_loras(merged, [LoraSpec(lora_file)], mode="merge")
    save_diffusers_folder(merged, tuned / "transformer")
    (base / "models" / "realisdance" / TUNED_RELEASE).symlink_to(tuned, target_is_directory=True)
    for name in ("ref", "smpl", "hamer"):
        (base / "input" / media[name].name).write_bytes(media[name].read_bytes())
    job = {"base_dir": str(base), "pack_module": "", "prompts": {"lora": {"prompt": trained_lora_prompt()}}}
    report = run_driver(host, "inprocess_host", job, work, timeout=600)
    result = report["results"]["lora"]
    return saved_latents(result, base, ("merged", "with_lora", "without"))


def test_comfyuis_lora_loader_applies_the_trained_lora_as_the_pack_does(latents):
    merged, with_lora, without = latents["merged"], latents["with_lora"], latents["without"]
    assert float((with_lora - merged).norm() / merged.norm()) <= RELATIVE_TOLERANCE
    assert float((without - merged).norm() / merged.norm()) > 10 * RELATIVE_TOLERANCE  # the LoRA matters
