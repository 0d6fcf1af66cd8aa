"""Uni3C camera control driving RealisDance inside a real host (ComfyUI >= 0.33: ModelPatchLoader +
WanUni3CControlnetApply), the pairing Uni3C's authors published.

The host's Uni3C patch runs after every DiT block through ``patches["double_block"]`` and adds its residuals to the
video tokens from ``img_offset`` 0; the native RealisDance model keeps that contract with its reference tokens after
the video tokens. On the tiny model: a tiny Uni3C file written with the host's own class, a render video (the pose
clip stands in for a camera render), the release preset. Strength 0 must give the plain latent exactly, strength 1
must change it: the patch ran, on this model, and nothing else moved.
"""

from __future__ import annotations

import pytest
import torch
from host_env import make_base_dir, run_driver, saved_latents
from test_host_native_sampling import NATIVE_RELEASE, _loaders, condition_inputs

STEPS, FRAMES, MAX_AREA, SEED = 2, 5, 128 * 224, 3


def uni3c_prompt() -> dict:
    shared = condition_inputs(FRAMES, MAX_AREA)
    strengths = {"pose_strength": 1.0, "pose_start_percent": 0.0, "pose_end_percent": 1.0, "reference_strength": 1.0}
    sampling = {"seed": SEED, "steps": STEPS, "cfg": 2.0, "denoise": 1.0}
    native = {"positive": ["tovideo", 0], "negative": ["tovideo", 1], "latent": ["tovideo", 2], **sampling}
    prompt = {
        **_loaders(""),
        "model": {"class_type": "RealisDanceLoadModel",
                  "inputs": {"model": NATIVE_RELEASE + "/", "weight_dtype": "fp32"}},
        "tovideo": {"class_type": "RealisDanceToVideo", "inputs": {"clip_vision": ["clip", 0], **shared, **strengths}},
        "patch": {"class_type": "ModelPatchLoader", "inputs": {"name": "tiny_uni3c.safetensors"}},
        "host_vae": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
        "plain": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["model", 0], **native}},
    }  # fmt: skip
    for name, strength in (("camera", 1.0), ("camera_off", 0.0)):
        prompt[f"{name}_model"] = {
            "class_type": "WanUni3CControlnetApply",
            "inputs": {"model": ["model", 0], "model_patch": ["patch", 0], "vae": ["host_vae", 0],
                       "render_video": ["smpl", 0], "strength": strength, "start_percent": 0.0, "end_percent": 1.0},
        }  # fmt: skip
        prompt[name] = {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": [f"{name}_model", 0], **native}}
    for name in ("plain", "camera", "camera_off"):
        prompt[f"save_{name}"] = {"class_type": "SaveLatent",
                                  "inputs": {"samples": [name, 0], "filename_prefix": f"latents/{name}"}}  # fmt: skip
    return prompt


@pytest.fixture(scope="module")
def latents(host, tiny_release, media, tmp_path_factory) -> dict[str, torch.Tensor]:
    from model_files import converted_parts

    from realisdance.model.configs import named_config
    from realisdance.tiny import build_tiny_release

    if "WanUni3CControlnetApply" not in (host.root / "comfy_extras" / "nodes_model_patch.py").read_text():
        pytest.skip("this ComfyUI has no Uni3C nodes (they came with 0.33)")
    work = tmp_path_factory.mktemp("uni3c")
    native = build_tiny_release(work / "native_release", variant="native-I2V")
    base = make_base_dir(work / "base", tiny_release)
    (base / "models" / "realisdance" / NATIVE_RELEASE).symlink_to(native, target_is_directory=True)
    config = named_config("tiny-native-I2V")
    (base / "models" / "model_patches").mkdir(parents=True)
    run_driver(host, "uni3c_file", {"path": str(base / "models" / "model_patches" / "tiny_uni3c.safetensors"),
                                    "dim": 128 * config["num_attention_heads"], "layers": config["num_layers"]},
               work)  # fmt: skip
    (base / "models" / "vae").mkdir(parents=True)
    (base / "models" / "vae" / "wan_2.1_vae.safetensors").symlink_to(converted_parts(native)["vae"])
    for name in ("ref", "smpl", "hamer"):
        (base / "input" / media[name].name).write_bytes(media[name].read_bytes())
    job = {"base_dir": str(base), "pack_module": "", "prompts": {"uni3c": {"prompt": uni3c_prompt()}}}
    result = run_driver(host, "inprocess_host", job, work, timeout=600)["results"]["uni3c"]
    return saved_latents(result, base, ("plain", "camera", "camera_off"))


def test_uni3c_camera_control_drives_the_native_realisdance_model(latents):
    plain, camera, off = latents["plain"], latents["camera"], latents["camera_off"]
    assert camera.shape == plain.shape and torch.isfinite(camera).all()
    torch.testing.assert_close(off, plain, rtol=0, atol=1e-6)  # strength 0: the patch adds nothing
    assert float((camera - plain).norm() / plain.norm()) > 1e-3  # strength 1: its residuals reach the video tokens
