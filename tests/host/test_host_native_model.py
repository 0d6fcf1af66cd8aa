"""RealisDance-DiT as a native ComfyUI model: the host's Wan subclass equals the core transformer (real host only).

One core ``RealisDanceTransformer`` with random weights (every module non-zero, ``add_proj`` included) is written
in the layouts users have (the release's diffusers folder, a ComfyUI single file, an original-Wan single file);
the host loads each through the pack's native loader and through ComfyUI's own "Load Diffusion Model" code path and
runs the same inputs. The native forward must equal the core one within fp32 noise (max abs error <= 1e-5) with
pose and reference tokens, for the release's RoPE flags and for all three shifts, with a reference grid of another
shape than the video's.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import random_transformer
from host_env import make_base_dir, run_driver

from realisdance.checkpoints.saver import save_diffusers_folder, save_single_file
from realisdance.model import RealisDanceTransformer
from realisdance.model.configs import named_config
from realisdance.model.rope import RopeShift

# ComfyUI's Wan detection fixes the head size (128), the time-embedding width (256), the text width (4096) and the
# CLIP width (1280); everything else stays tiny.
NATIVE_TINY = named_config("tiny-I2V", text_dim=4096, image_dim=1280, freq_dim=256)
ROPE_VARIANTS = {"release": [False, True, True], "all_shifts": [True, True, True]}
TOLERANCE = 1e-5


def _cases(model: RealisDanceTransformer) -> list[dict]:
    """Forward inputs (video 3x4x6 latent grid, references of two shapes) and the core outputs per flag set."""
    generator = torch.Generator().manual_seed(3)
    cases = []
    for reference_size, timestep in (((4, 6), 999.0), ((6, 4), 624.0)):
        case = {
            "hidden": torch.randn(1, 36, 3, 4, 6, generator=generator),
            "pose": torch.randn(1, 32, 3, 4, 6, generator=generator),
            "reference": torch.randn(1, 16, 1, *reference_size, generator=generator),
            "text": torch.randn(1, 512, 4096, generator=generator),
            "clip": torch.randn(1, 257, 1280, generator=generator),
            "timestep": torch.tensor([timestep]),
            "expected": {},
        }
        for variant, flags in ROPE_VARIANTS.items():
            model.rope.shift = RopeShift(*flags)
            with torch.no_grad():
                out = model(
                    case["hidden"],
                    case["timestep"],
                    case["text"],
                    case["clip"],
                    add_cond=case["pose"],
                    attn_cond=case["reference"],
                    return_dict=False,
                )[0]
            case["expected"][variant] = out.float()
        cases.append(case)
    model.rope.shift = RopeShift(*ROPE_VARIANTS["release"])
    return cases


@pytest.fixture(scope="module")
def report(host, tiny_release, tmp_path_factory):
    work = tmp_path_factory.mktemp("native")
    base = make_base_dir(work / "base", tiny_release)
    model = random_transformer(NATIVE_TINY, seed=7)
    files = work / "files"
    release = files / "release"
    save_diffusers_folder(model, release / "transformer")
    (release / "scheduler").mkdir()
    (release / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(
            {
                "_class_name": "UniPCMultistepScheduler",
                "flow_shift": 3.0,
                "use_flow_sigmas": True,
                "prediction_type": "flow_prediction",
                "num_train_timesteps": 1000,
            }
        )
    )
    comfy_file = save_single_file(model, files / "realisdance_comfy.safetensors", naming="comfyui")
    wan_file = save_single_file(model, files / "realisdance_wan.safetensors", naming="wan")
    plain = files / "plain_wan.safetensors"
    from safetensors.torch import save_file

    save_file(_plain_wan(comfy_file), str(plain))
    cases_path = work / "cases.pt"
    torch.save(_cases(model), cases_path)
    job = {
        "base_dir": str(base),
        "cases": str(cases_path),
        "rope_variants": ROPE_VARIANTS,
        "checkpoints": {"release_folder": str(release), "comfy_file": str(comfy_file), "wan_file": str(wan_file)},
        "stock_loader": {"comfy_file": str(comfy_file)},
        "refuse": {"plain_wan": str(plain), "missing": str(files / "nowhere.safetensors")},
    }
    return run_driver(host, "native_model", job, work, timeout=600)


def _plain_wan(path) -> dict:
    """The same file without the RealisDance modules: a plain Wan 2.1 I2V DiT."""
    from safetensors.torch import load_file

    modules = ("add_conv_in", "add_proj", "attn_conv_in")
    return {k: v for k, v in load_file(str(path)).items() if not any(m in k for m in modules)}


@pytest.mark.parametrize("name", ["release_folder", "comfy_file", "wan_file", "stock:comfy_file"])
def test_the_native_model_equals_the_core_transformer(report, name):
    entry = report["checkpoints"][name]
    assert "exception" not in entry, entry.get("exception")
    assert entry["is_realisdance"] and entry["diffusion_model_class"] == "RealisDanceWanModel", entry
    assert entry["model_class"] == "RealisDanceWan" and entry["config_class"] == "RealisDanceWanConfig", entry
    assert entry["add_cond_in_dim"] == 32
    for variant, errors in entry["max_abs_error"].items():
        assert len(errors) == 2 and max(errors) <= TOLERANCE, (variant, errors)


def test_the_release_folder_sets_the_flow_shift_and_rope_flags(report):
    entry = report["checkpoints"]["release_folder"]
    assert entry["shift"] == 3.0  # from scheduler/scheduler_config.json
    assert entry["rope_shift"] == repr(RopeShift(frame=False, height=True, width=True))
    assert report["checkpoints"]["comfy_file"]["shift"] == 5.0  # a single file gets the release's shift


def test_files_that_are_not_realisdance_are_refused_in_one_sentence(report):
    plain = report["refusals"]["plain_wan"]
    assert plain and plain.startswith("CheckpointError") and "without the RealisDance modules" in plain
    missing = report["refusals"]["missing"]
    assert missing and missing.startswith("CheckpointError") and "no such file" in missing
