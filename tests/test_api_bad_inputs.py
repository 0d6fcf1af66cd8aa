"""The Python API keeps the command line's standard: every bad input a caller can make ends in a RealisDanceError with
one sentence naming the file or the argument, raised before any heavy work; never a raw exception from a library,
never a NaN video."""

from __future__ import annotations

import json
import math
import shutil
import struct

import pytest
import torch

from realisdance.demo_inputs import write_demo_inputs
from realisdance.errors import CheckpointError, InputError, RealisDanceError
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.tiny import build_tiny_release

SMALL = {"num_frames": 5, "max_area": 32 * 48, "steps": 1}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("api_bad") / "release")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("api_bad_media"))


@pytest.fixture(scope="module")
def pipe(release):
    return RealisDancePipeline.from_pretrained(release, device="cpu")


def _one_sentence(error: BaseException) -> str:
    text = str(error)
    assert isinstance(error, RealisDanceError), f"{type(error).__name__}: {text}"
    assert "\n" not in text and text.strip(), text
    return text


def _broken_copy(release, tmp_path, damage) -> object:
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    damage(copy)
    return copy


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _malformed_header(path) -> None:
    header = json.dumps(["not", "an", "object"]).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda f: _truncate(next((f / "vae").glob("*.safetensors"))), "truncated"),
        (lambda f: _truncate(next((f / "text_encoder").glob("*.safetensors"))), "truncated"),
        (lambda f: _malformed_header(next((f / "vae").glob("*.safetensors"))), "not a JSON object"),
        (
            lambda f: (f / "transformer" / "config.json").write_text(
                json.dumps({**json.loads((f / "transformer" / "config.json").read_text()), "attention_head_dim": 0})
            ),
            "attention_head_dim",
        ),
    ],
    ids=["truncated-vae", "truncated-text-encoder", "malformed-header", "zero-head-dim"],
)
def test_broken_release_files_are_named_in_one_sentence(release, tmp_path, damage, words):
    broken = _broken_copy(release, tmp_path, damage)
    with pytest.raises(CheckpointError) as refused:
        RealisDancePipeline.from_pretrained(broken, device="cpu")
    assert words in _one_sentence(refused.value)


def test_settings_objects_are_checked_when_made_and_overridden_by_name(pipe, media):
    from realisdance.pipeline.settings import GenerationSettings

    with pytest.raises(InputError, match="steps"):
        GenerationSettings(steps=0)
    settings = GenerationSettings(num_frames=5, max_area=64 * 96, steps=3, seed=7)
    assert settings.with_overrides({"steps": 2}) == GenerationSettings(num_frames=5, max_area=64 * 96, steps=2, seed=7)
    by_object = pipe(media["ref"], media["smpl"], media["hamer"], "x", settings=settings.with_overrides({"steps": 2}))
    by_name = pipe(media["ref"], media["smpl"], media["hamer"], "x", settings=settings, steps=2)
    torch.testing.assert_close(by_object.latents, by_name.latents, rtol=0, atol=0)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", "cuda:99"])
def test_unknown_or_missing_devices_are_one_sentence(release, device):
    with pytest.raises(InputError) as refused:
        RealisDancePipeline.from_pretrained(release, device=device)
    _one_sentence(refused.value)


@pytest.mark.skipif(torch.version.cuda is not None, reason="this torch has CUDA")
def test_cuda_on_a_cpu_only_torch_says_how_to_get_a_cuda_torch(release):
    with pytest.raises(InputError, match="CPU-only") as refused:
        RealisDancePipeline.from_pretrained(release, device="cuda")
    _one_sentence(refused.value)


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"max_area": math.nan}, "max_area"),
        ({"max_area": 10**15}, "max_area"),
        ({"max_area": 1}, "max_area"),
        ({"steps": 2.5}, "steps"),
        ({"steps": 0}, "steps"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -1}, "seed"),
        ({"prompt": None}, "prompt"),
        ({"negative_prompt": 3}, "negative_prompt"),
        ({"generator": "cuda"}, "generator"),
        ({"guidance": math.inf}, "guidance"),
        ({"guidance": math.nan}, "guidance"),
        ({"guidance": -2.0}, "guidance"),
        ({"latents": torch.full((1, 16, 2, 4, 6), math.nan)}, "initial latents"),
        ({"step": 2}, "unknown setting 'step'"),  # a misspelt setting is named, not silently ignored
    ],
)
def test_bad_call_arguments_are_refused_before_any_work(pipe, media, arguments, words):
    call = {**SMALL, **arguments}
    with pytest.raises(InputError) as refused:
        pipe(media["ref"], media["smpl"], media["hamer"], **call)
    assert words in _one_sentence(refused.value)


def test_nan_reference_or_pose_frames_are_refused_not_turned_into_a_black_video(pipe, media):
    reference = torch.rand(1, 64, 48, 3)
    reference[0, 10, 10, 0] = math.nan
    with pytest.raises(InputError, match="reference image") as refused:
        pipe(reference, media["smpl"], media["hamer"], **SMALL)
    _one_sentence(refused.value)
    poses = torch.rand(5, 32, 48, 3)
    poses[2, 1, 1, 1] = math.nan
    with pytest.raises(InputError, match="pose video") as refused:
        pipe(media["ref"], poses, torch.rand(5, 32, 48, 3), **SMALL)
    _one_sentence(refused.value)


def test_a_shard_index_cannot_name_files_outside_its_folder(release, tmp_path):
    broken = _broken_copy(release, tmp_path, lambda f: None)
    folder = broken / "transformer"
    weights = folder / "diffusion_pytorch_model.safetensors"
    shard = folder / "diffusion_pytorch_model-00001-of-00001.safetensors"
    weights.rename(shard)
    from realisdance.checkpoints.safetensors_file import read_header

    names = list(read_header(shard).tensors)
    index = {"metadata": {}, "weight_map": {name: "../../../../../../etc/hostname" for name in names}}
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="not a file of its folder") as refused:
        RealisDancePipeline.from_pretrained(broken, device="cpu")
    _one_sentence(refused.value)


def test_folders_given_as_media_are_named_as_folders(pipe, tmp_path, media):
    with pytest.raises(InputError, match="is a folder, not a video"):
        pipe(media["ref"], tmp_path, media["hamer"], **SMALL)
    with pytest.raises(InputError, match="is a folder, not an image"):
        pipe(tmp_path, media["smpl"], media["hamer"], **SMALL)


def test_a_cpu_job_larger_than_the_available_ram_is_refused_with_the_numbers(monkeypatch):
    from types import SimpleNamespace

    from realisdance.memory import JobSize, device
    from realisdance.memory.sizes import GIB

    plan = SimpleNamespace(peak_bytes=100 * GIB, job=JobSize())
    facts = SimpleNamespace(text_encoder_bytes=11 * GIB, clip_bytes=GIB, vae_bytes=GIB // 2)
    monkeypatch.setattr(device, "available_host_bytes", lambda: 20 * GIB)
    with pytest.raises(InputError, match=r"about 112\.5 GiB of RAM .* 20\.0 GiB are available") as refused:
        device.check_host_memory_for_cpu_run(plan, facts, "cpu")
    _one_sentence(refused.value)
    device.check_host_memory_for_cpu_run(plan, facts, "meta")  # only the CPU's RAM is checked here
    monkeypatch.setattr(device, "available_host_bytes", lambda: 200 * GIB)
    device.check_host_memory_for_cpu_run(plan, facts, "cpu")
