"""The native sampler's memory advice: the planner's answer for a native RealisDance-DiT and a job, as one line."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import torch

from realisdance.memory.sizes import GIB, JobSize
from realisdance.model.configs import named_config

# The module uses the core only; load the file itself (importing the nodes package would register the pack).
_SPEC = importlib.util.spec_from_file_location(
    "native_memory", Path(__file__).resolve().parents[1] / "nodes" / "native_memory.py"
)
native_memory = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(native_memory)
advice, job_of, native_config = native_memory.advice, native_memory.job_of, native_memory.native_config


def native_14b(dtype=torch.bfloat16):
    """The attributes of ComfyUI's WanModel that the advice reads, at the release's size (no weights)."""
    weight = SimpleNamespace(dtype=dtype)
    block = SimpleNamespace(ffn=[SimpleNamespace(weight=weight)])
    return SimpleNamespace(
        num_heads=40, dim=5120, in_dim=36, ffn_dim=13824, num_layers=40, text_dim=4096, freq_dim=256,
        img_emb=object(), blocks=[block], add_conv_in=SimpleNamespace(in_channels=32),
        attn_conv_in=SimpleNamespace(in_channels=16),
    )  # fmt: skip


def test_the_native_model_maps_to_the_release_config():
    assert native_config(native_14b()) == named_config("14B-I2V")


def test_the_job_comes_from_the_latent_and_the_reference_latent():
    job = job_of(torch.zeros(1, 16, 21, 72, 128), torch.zeros(1, 16, 1, 64, 48), 2.0)
    assert job == JobSize(81, 576, 1024, 512, 384, 2.0)


def test_the_advice_says_fits_offloads_with_an_fp8_hint_or_does_not_fit():
    job = JobSize()  # the release's default job
    assert advice(native_14b(), job, None) == "CPU: no device memory limit"
    assert advice(native_14b(), job, 80 * GIB).startswith("fits resident in bf16")
    split = advice(native_14b(), job, 24 * GIB)
    kept, fp8_kept = (int(n) for n in re.findall(r"(\d+)/40", split))
    assert "ComfyUI keeps about" in split and 0 < kept < fp8_kept <= 40, split
    assert advice(native_14b(), job, 2 * GIB).startswith("does not fit")
    assert "fp8 weights would" not in advice(native_14b(torch.float8_e4m3fn), job, 24 * GIB)


def test_with_the_hosts_context_windows_the_advice_is_for_one_window():
    handler = SimpleNamespace(context_length=21)  # what ComfyUI's Context Windows nodes put in model_options
    window = native_memory.context_window_length({"context_handler": handler})
    assert window == 21 and native_memory.context_window_length({}) is None
    job = job_of(torch.zeros(1, 16, 121, 72, 128), torch.zeros(1, 16, 1, 72, 128), 2.0, window)
    assert job == JobSize(81, 576, 1024, 576, 1024, 2.0, clip_frames=481)
    whole = job_of(torch.zeros(1, 16, 121, 72, 128), torch.zeros(1, 16, 1, 72, 128), 2.0)
    assert advice(native_14b(), job, 48 * GIB).startswith("fits resident")
    assert not advice(native_14b(), whole, 48 * GIB).startswith("fits resident")  # 481 frames at once would not
