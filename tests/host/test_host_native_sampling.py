"""The native path end to end inside the real host: RealisDance-DiT Loader (MODEL) + RealisDance To Video +
RealisDance Sampler (release preset), against the pipeline's own sampler, and a LoRA through ComfyUI's loader.

One prompt runs these branches on the same tiny native-width release, the same reference and pose videos, text
and seed:
- the native path: the host's Wan subclass, native CONDITIONING, the host's ``sample_custom`` with the release
  solver; held to ``RealisDancePipeline`` (the core, parity-tested against the official code) run in this test's
  own process on the same files;
- a saved pipeline-path graph (``RealisDanceModelLoader`` + ``RealisDanceConditions`` + ``RealisDanceSampler``, the
  deprecated nodes, now a shim over the native path): it still runs, to the native latent;
- the native path with a LoRA in kijai / ComfyUI key format on the base Wan keys, loaded by ``LoraLoaderModelOnly``.
Two more branches put a ModelSamplingSD3 shift node and fp8_e4m3fn weights (the host's casting) on the native
MODEL. Each ends in ComfyUI's SaveLatent; the native latent must equal the pipeline's within 1e-3 relative, the LoRA
and the shift must change it, fp8 must stay close to it.
"""

from __future__ import annotations

import pytest
import torch
from host_env import make_base_dir, run_driver, saved_latents
from model_files import write_kijai_lora

NATIVE_RELEASE = "TinyNative"
STEPS, FRAMES, MAX_AREA, SEED = 3, 5, 128 * 224, 1024
RELATIVE_TOLERANCE = 1e-3
TEACACHE, TEACACHE_STEPS = 1e6, 8  # the tiny model's timestep projection changes a lot: a huge threshold still skips


def _loaders(prefix: str) -> dict:
    folder = NATIVE_RELEASE + "/"
    return {
        f"{prefix}te": {
            "class_type": "RealisDanceTextEncoderLoader",
            "inputs": {"text_encoder": folder, "dtype": "fp32"},
        },
        f"{prefix}clip": {
            "class_type": "RealisDanceClipVisionLoader",
            "inputs": {"clip_vision": folder, "dtype": "fp32"},
        },
        f"{prefix}vae": {"class_type": "RealisDanceVAELoader", "inputs": {"vae": folder, "dtype": "fp32"}},
        f"{prefix}pos": {
            "class_type": "RealisDanceTextEncode",
            "inputs": {"text_encoder": [f"{prefix}te", 0], "text": "a dancer"},
        },
        f"{prefix}neg": {
            "class_type": "RealisDanceTextEncode",
            "inputs": {"text_encoder": [f"{prefix}te", 0], "text": ""},
        },
        f"{prefix}ref": {"class_type": "LoadImage", "inputs": {"image": "ref.png"}},
        f"{prefix}smplv": {"class_type": "LoadVideo", "inputs": {"file": "smpl.mp4"}},
        f"{prefix}hamerv": {"class_type": "LoadVideo", "inputs": {"file": "hamer.mp4"}},
        f"{prefix}smpl": {"class_type": "GetVideoComponents", "inputs": {"video": [f"{prefix}smplv", 0]}},
        f"{prefix}hamer": {"class_type": "GetVideoComponents", "inputs": {"video": [f"{prefix}hamerv", 0]}},
    }


def condition_inputs(frames: int, max_area: int) -> dict:
    """The inputs RealisDance Conditions and RealisDance To Video share, wired to ``_loaders("")``."""
    return {
        "positive": ["pos", 0],
        "negative": ["neg", 0],
        "vae": ["vae", 0],
        "reference": ["ref", 0],
        "smpl": ["smpl", 0],
        "hamer": ["hamer", 0],
        "num_frames": frames,
        "max_area": max_area,
        "pose_fps": ["smpl", 2],
    }


def parity_prompt() -> dict:
    folder = NATIVE_RELEASE + "/"
    shared = condition_inputs(FRAMES, MAX_AREA)
    sampling = {"seed": SEED, "steps": STEPS, "cfg": 2.0, "denoise": 1.0}
    prompt = {
        **_loaders(""),
        # a saved pipeline-path graph (deprecated nodes)
        "dit": {
            "class_type": "RealisDanceModelLoader",
            "inputs": {"model": folder, "dtype": "fp32", "attention": "sdpa"},
        },
        "cond": {
            "class_type": "RealisDanceConditions",
            "inputs": {"model": ["dit", 0], "image_encoder": ["clip", 0], **shared},
        },
        "legacy": {
            "class_type": "RealisDanceSampler",
            "inputs": {
                "model": ["dit", 0],
                "conditions": ["cond", 0],
                **sampling,
                "shift": 0.0,
                "scheduler": "auto",
                "memory": "auto",
                "vram_budget_gb": 0.0,
                "keep_on_device": False,
            },
        },
        "save_legacy": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["legacy", 0], "filename_prefix": "latents/legacy"},
        },
        # the native path
        "model": {"class_type": "RealisDanceLoadModel", "inputs": {"model": folder, "weight_dtype": "fp32"}},
        "tovideo": {
            "class_type": "RealisDanceToVideo",
            "inputs": {
                "clip_vision": ["clip", 0],
                **shared,
                "pose_strength": 1.0,
                "pose_start_percent": 0.0,
                "pose_end_percent": 1.0,
                "reference_strength": 1.0,
            },
        },
        "native": {
            "class_type": "RealisDanceReleaseSampler",
            "inputs": {
                "model": ["model", 0],
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent": ["tovideo", 2],
                **sampling,
            },
        },
        "save_native": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["native", 0], "filename_prefix": "latents/native"},
        },
        # the native path with a LoRA
        "lora": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["model", 0], "lora_name": "tiny_lora.safetensors", "strength_model": 1.0},
        },
        "native_lora": {
            "class_type": "RealisDanceReleaseSampler",
            "inputs": {
                "model": ["lora", 0],
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent": ["tovideo", 2],
                **sampling,
            },
        },
        # a shift node on the MODEL (the release preset reads the model's shift)
        "shift": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["model", 0], "shift": 12.0}},
        "native_shift": {
            "class_type": "RealisDanceReleaseSampler",
            "inputs": {
                "model": ["shift", 0],
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent": ["tovideo", 2],
                **sampling,
            },
        },
        "save_shift": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["native_shift", 0], "filename_prefix": "latents/shift"},
        },
        # fp8 weights through the host's casting
        "model_fp8": {"class_type": "RealisDanceLoadModel", "inputs": {"model": folder, "weight_dtype": "fp8_e4m3fn"}},
        "native_fp8": {
            "class_type": "RealisDanceReleaseSampler",
            "inputs": {
                "model": ["model_fp8", 0],
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent": ["tovideo", 2],
                **sampling,
            },
        },
        "save_fp8": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["native_fp8", 0], "filename_prefix": "latents/fp8"},
        },
        # the stock KSampler on the same conditioning (its own sigma grid and UniPC, not the release's)
        "ksampler": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["model", 0],
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent_image": ["tovideo", 2],
                "seed": SEED,
                "steps": STEPS,
                "cfg": 2.0,
                "sampler_name": "uni_pc_bh2",
                "scheduler": "simple",
                "denoise": 1.0,
            },
        },
        "save_ksampler": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["ksampler", 0], "filename_prefix": "latents/ksampler"},
        },
        "save_lora": {
            "class_type": "SaveLatent",
            "inputs": {"samples": ["native_lora", 0], "filename_prefix": "latents/lora"},
        },
    }
    prompt.update(teacache_branches(sampling))
    return prompt


def teacache_branches(sampling: dict) -> dict:
    """TeaCache on both paths at TEACACHE_STEPS (past the 5 always-computed steps), a threshold that skips every
    step it may, and the native path without it; plus the stock KSampler on the TeaCache MODEL."""
    long = {**sampling, "steps": TEACACHE_STEPS}
    legacy = {"model": ["dit", 0], "conditions": ["cond", 0], **long, "shift": 0.0, "scheduler": "auto"}
    native = {"positive": ["tovideo", 0], "negative": ["tovideo", 1], "latent": ["tovideo", 2], **long}
    branches = {
        "legacy_tc": {"class_type": "RealisDanceSampler", "inputs": {**legacy, "teacache_threshold": TEACACHE}},
        "teacache": {"class_type": "RealisDanceTeaCache", "inputs": {"model": ["model", 0], "threshold": TEACACHE}},
        "native_tc": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["teacache", 0], **native}},
        "native_long": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["model", 0], **native}},
        "ksampler_tc": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["teacache", 0],
                "positive": ["tovideo", 0],
                "negative": ["tovideo", 1],
                "latent_image": ["tovideo", 2],
                "seed": SEED,
                "steps": TEACACHE_STEPS,
                "cfg": 2.0,
                "sampler_name": "euler",
                "scheduler": "simple",
                "denoise": 1.0,
            },
        },
    }
    for name in ("legacy_tc", "native_tc", "native_long", "ksampler_tc"):
        branches[f"save_{name}"] = {
            "class_type": "SaveLatent",
            "inputs": {"samples": [name, 0], "filename_prefix": f"latents/{name}"},
        }
    return branches


@pytest.fixture(scope="module")
def latents(host, tiny_release, media, tmp_path_factory) -> dict[str, torch.Tensor]:
    from realisdance.model.configs import named_config
    from realisdance.tiny import build_tiny_release

    work = tmp_path_factory.mktemp("native_sampling")
    native = build_tiny_release(work / "native_release", variant="native-I2V")
    base = make_base_dir(work / "base", tiny_release)
    (base / "models" / "realisdance" / NATIVE_RELEASE).symlink_to(native, target_is_directory=True)
    config = named_config("tiny-native-I2V")
    (base / "models" / "loras").mkdir(parents=True)
    write_kijai_lora(base / "models" / "loras" / "tiny_lora.safetensors", 128 * config["num_attention_heads"],
                     config["num_layers"], scale=0.5, seed=5)  # fmt: skip
    for name in ("ref", "smpl", "hamer"):
        (base / "input" / media[name].name).write_bytes(media[name].read_bytes())
    report = run_driver(
        host,
        "inprocess_host",
        {"base_dir": str(base), "pack_module": "", "prompts": {"parity": {"prompt": parity_prompt()}}},
        work,
        timeout=600,
    )
    result = report["results"]["parity"]
    out = saved_latents(result, base, ("legacy", "native", "lora", "shift", "fp8", "ksampler", "legacy_tc",
                                       "native_tc", "native_long", "ksampler_tc"))  # fmt: skip
    out["summaries"] = {node: ui["realisdance_summary"][0] for node, ui in result["history"].items()
                        if "realisdance_summary" in ui}  # fmt: skip
    out.update(_core_latents(native, media))
    return out


def core_latents(release, media, frames: int, max_area: int, steps: int, seed: int, **settings) -> torch.Tensor:
    """The same job through the core pipeline in this process (no host), as a raw latent like SaveLatent's."""
    from realisdance.encoders import denormalize_latents
    from realisdance.pipeline.api import RealisDancePipeline

    pipe = RealisDancePipeline.from_pretrained(release, dtype="fp32", device="cpu")
    files = [str(media[name]) for name in ("ref", "smpl", "hamer")]
    out = pipe(*files, prompt="a dancer", num_frames=frames, max_area=max_area, steps=steps, seed=seed, guidance=2.0,
               **settings)  # fmt: skip
    return denormalize_latents(out.latents)


def _core_latents(release, media) -> dict[str, torch.Tensor]:
    from realisdance.caching import StepCacheSettings

    cache = StepCacheSettings("teacache", TEACACHE)
    return {
        "core": core_latents(release, media, FRAMES, MAX_AREA, STEPS, SEED),
        "core_tc": core_latents(release, media, FRAMES, MAX_AREA, TEACACHE_STEPS, SEED, cache=cache),
    }


def test_the_native_path_reproduces_the_core_pipeline(latents):
    core, native = latents["core"], latents["native"]
    assert native.shape == core.shape and native.shape[1] == 16
    relative = float((native - core).norm() / core.norm())
    assert relative <= RELATIVE_TOLERANCE, relative


def test_a_saved_pipeline_path_graph_still_runs_to_the_native_latent(latents):
    relative = float((latents["legacy"] - latents["native"]).norm() / latents["native"].norm())
    assert relative <= 1e-5, relative  # the same model and sampling: only the encoders' node route differs


def test_a_lora_through_the_native_loader_changes_the_output(latents):
    relative = float((latents["lora"] - latents["native"]).norm() / latents["native"].norm())
    assert relative > 1e-2, relative


def test_a_shift_node_on_the_model_changes_the_release_schedule(latents):
    relative = float((latents["shift"] - latents["native"]).norm() / latents["native"].norm())
    assert relative > 1e-3, relative


def test_fp8_weights_through_the_hosts_casting_stay_close_to_fp32(latents):
    fp8, native = latents["fp8"], latents["native"]
    assert torch.isfinite(fp8).all()
    relative = float((fp8 - native).norm() / native.norm())
    assert 0 < relative < 0.1, relative  # fp8 rounding changes the result a little, never wrecks it


def test_the_stock_ksampler_samples_the_native_model(latents):
    """KSampler (uni_pc_bh2, simple) runs the same conditioning to a finite latent of the right shape. It is not the
    release's solver or sigma grid, so it is not bit-faithful: the difference is recorded in docs/comfyui.md."""
    stock, native = latents["ksampler"], latents["native"]
    assert stock.shape == native.shape and torch.isfinite(stock).all()
    relative = float((stock - native).norm() / native.norm())
    print(f"stock KSampler vs release preset: {relative:.4f} relative")
    assert relative < 0.5, relative


def test_teacache_on_the_native_model_equals_the_pipelines_teacache(latents):
    """RealisDance TeaCache (model patch) + release preset against the core's TeaCache (tested against a
    spec-written implementation): same skipped steps, same latent; both differ from the uncached run. The saved
    pipeline-path graph's TeaCache setting maps onto the same patch."""
    cached, core, legacy, plain = latents["native_tc"], latents["core_tc"], latents["legacy_tc"], latents["native_long"]
    assert float((cached - core).norm() / core.norm()) <= RELATIVE_TOLERANCE
    assert float((legacy - cached).norm() / cached.norm()) <= 1e-5
    assert float((cached - plain).norm() / plain.norm()) > 1e-3
    skipped = 2 * (TEACACHE_STEPS - 5)  # every step after the first 5, both branches
    assert f"TeaCache: skipped {skipped} of {2 * TEACACHE_STEPS}" in latents["summaries"]["native_tc"]
    assert f"TeaCache: skipped {skipped} of {2 * TEACACHE_STEPS}" in latents["summaries"]["legacy_tc"]


def test_the_stock_ksampler_runs_the_teacache_model(latents):
    assert torch.isfinite(latents["ksampler_tc"]).all()
