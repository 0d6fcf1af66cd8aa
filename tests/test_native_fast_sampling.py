"""The fast recipe on the native MODEL in the ComfyUI double: a step-distill LoRA through LoraLoaderModelOnly and the
stock KSampler (euler, simple schedule, 4 steps, CFG 1), as the fast template runs it, gives the command line's
``--fast`` (the core's distill sampler: flow Euler on 1 - i/N shifted by 5, no CFG) with the same LoRA."""

from __future__ import annotations

import pytest
from model_files import write_kijai_lora
from nodes_graph import RELEASE, SMALL, install_release, loaders, media, register_media, to_video_node

from realisdance.encoders import normalize_latents
from realisdance.lora import LoraSpec
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.pipeline.model_patches import ModelPatches
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]

SEED = 5


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("fast") / "release", variant="native-I2V")


def _graph(steps: int, lora: bool) -> dict:
    graph = loaders() | {
        "media": {"class_type": "TestMedia", "inputs": {}},
        "native": {"class_type": "RealisDanceLoadModel", "inputs": {"model": RELEASE, "weight_dtype": "fp32"}},
        "tovideo": to_video_node(),
        "lora": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["native", 0], "lora_name": "distill.safetensors", "strength_model": 1.0},
        },
        "sample": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["lora" if lora else "native", 0],
                "seed": SEED,
                "steps": steps,
                "cfg": 1.0,
                "sampler_name": "euler",
                "scheduler": "simple",
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent_image": ["tovideo", 2],
                "denoise": 1.0,
            },
        },  # fmt: skip
    }
    del graph["model"]  # the deprecated loader: not part of this graph
    return graph


@pytest.mark.parametrize("steps", [4, 6])
def test_the_distill_lora_on_ksampler_euler_simple_is_the_command_lines_fast_sampling(comfy, release, steps):
    install_release(comfy, release)
    lora = comfy.model_dir("loras") / "distill.safetensors"
    write_kijai_lora(lora, dim=256, blocks=2)
    comfy.install_pack()
    register_media(comfy, media())
    result = comfy.run(_graph(steps, lora=True), targets=["sample", "native"]).raise_error()
    latent = normalize_latents(result.output("sample")["samples"])

    pipe = RealisDancePipeline.from_pretrained(release, dtype="fp32", scheduler="distill",
                                               patches=ModelPatches(loras=(LoraSpec(lora),)))  # fmt: skip
    tensors = media()
    expected = pipe(tensors["reference"], tensors["smpl"], tensors["hamer"], prompt="a dancer", steps=steps,
                    guidance=1.0, seed=SEED, **SMALL).latents  # fmt: skip
    scale = float(expected.abs().max())
    assert float((latent - expected).abs().max()) <= 1e-3 * scale
    # the LoRA reached the model (and only the clone: the loaded MODEL is unchanged)
    plain = comfy.run(_graph(steps, lora=False), targets=["sample"]).raise_error().output("sample")["samples"]
    assert float((normalize_latents(plain) - expected).abs().max()) > 1e-2 * scale
    assert result.output("native").model is not None
