"""Long videos inside the real host: ComfyUI's own context windows on the native RealisDance MODEL against the
core pipeline's windows (run in this test's own process on the same files), on a clip longer than one window.

With a static schedule, pyramid fusion and no causal anchor frame, the host's windows and weights are exactly the
core's (``WindowPlan``: windows [0-2], [2-4], [3-5] of a 6-latent-frame clip, weights 1-2-1 normalised), so the
native latent must equal the pipeline's within the tolerance of the native-path parity test. That only holds when
``RealisDanceWan.resize_cond_for_context_window`` gives every window its own pose frames (even when the user asks the
host to retain the first frame's conditions in every window) and the grey video's first frames, as the core does.
The Wan context-window node's defaults (an anchor frame, uniform schedule, FreeNoise) must run too.
"""

from __future__ import annotations

import pytest
import torch
from host_env import make_base_dir, run_driver, saved_latents
from test_host_native_sampling import NATIVE_RELEASE, _loaders, condition_inputs, core_latents

FRAMES, WINDOW_FRAMES, OVERLAP_FRAMES = 21, 9, 4  # 6 latent frames in windows of 3 sharing 1
STEPS, MAX_AREA, SEED = 2, 128 * 224, 7
RELATIVE_TOLERANCE = 1e-3


def long_prompt() -> dict:
    folder = NATIVE_RELEASE + "/"
    shared = condition_inputs(FRAMES, MAX_AREA)
    sampling = {"seed": SEED, "steps": STEPS, "cfg": 2.0, "denoise": 1.0}
    strengths = {"pose_strength": 1.0, "pose_start_percent": 0.0, "pose_end_percent": 1.0, "reference_strength": 1.0}
    native = {"positive": ["tovideo", 0], "negative": ["tovideo", 1], "latent": ["tovideo", 2], **sampling}
    prompt = {
        **_loaders(""),
        "model": {"class_type": "RealisDanceLoadModel", "inputs": {"model": folder, "weight_dtype": "fp32"}},
        "tovideo": {"class_type": "RealisDanceToVideo", "inputs": {"clip_vision": ["clip", 0], **shared, **strengths}},
        "windows": {
            "class_type": "ContextWindowsManual",
            "inputs": {
                "model": ["model", 0],
                "context_length": 3,
                "context_overlap": 1,
                "context_schedule": "standard_static",
                "context_stride": 1,
                "closed_loop": False,
                "fuse_method": "pyramid",
                "dim": 2,
                "freenoise": False,
                "cond_retain_index_list": "0",  # retaining the first frame must not reach the pose
                "split_conds_to_windows": False,
                "latent_retain_index_list": "",
                "causal_window_fix": False,
            },
        },
        "native": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["windows", 0], **native}},
        "wan_windows": {
            "class_type": "WanContextWindowsManual",
            "inputs": {
                "model": ["model", 0],
                "context_length": WINDOW_FRAMES,
                "context_overlap": OVERLAP_FRAMES,
                "context_schedule": "standard_uniform",
                "context_stride": 1,
                "closed_loop": False,
                "fuse_method": "pyramid",
                "freenoise": True,
                "retain_first_frame": True,
                "split_conds_to_windows": False,
            },
        },
        "wan": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["wan_windows", 0], **native}},
        "whole": {"class_type": "RealisDanceReleaseSampler", "inputs": {"model": ["model", 0], **native}},
    }
    for name in ("native", "wan", "whole"):
        prompt[f"save_{name}"] = {"class_type": "SaveLatent",
                                  "inputs": {"samples": [name, 0], "filename_prefix": f"latents/{name}"}}  # fmt: skip
    return prompt


@pytest.fixture(scope="module")
def latents(host, tiny_release, media, tmp_path_factory) -> dict[str, torch.Tensor]:
    from realisdance.tiny import build_tiny_release

    work = tmp_path_factory.mktemp("long_video")
    native = build_tiny_release(work / "native_release", variant="native-I2V")
    base = make_base_dir(work / "base", tiny_release)
    (base / "models" / "realisdance" / NATIVE_RELEASE).symlink_to(native, target_is_directory=True)
    for name in ("ref", "smpl", "hamer"):
        (base / "input" / media[name].name).write_bytes(media[name].read_bytes())
    report = run_driver(host, "inprocess_host",
                        {"base_dir": str(base), "pack_module": "", "prompts": {"long": {"prompt": long_prompt()}}},
                        work, timeout=600)  # fmt: skip
    result = report["results"]["long"]
    out = saved_latents(result, base, ("native", "wan", "whole"))
    out["pipeline"] = core_latents(native, media, FRAMES, MAX_AREA, STEPS, SEED, window=WINDOW_FRAMES,
                                   window_overlap=OVERLAP_FRAMES, window_scheme="average")  # fmt: skip
    return out


def test_the_hosts_context_windows_on_the_native_model_equal_the_pipelines_windows(latents):
    pipeline, native, whole = latents["pipeline"], latents["native"], latents["whole"]
    assert native.shape == pipeline.shape and native.shape[2] == 6
    assert float((native - pipeline).norm() / pipeline.norm()) <= RELATIVE_TOLERANCE
    assert float((native - whole).norm() / whole.norm()) > 1e-3  # the windows did change the sampling


def test_the_wan_context_window_node_defaults_run_on_the_native_model(latents):
    assert latents["wan"].shape == latents["whole"].shape and torch.isfinite(latents["wan"]).all()
