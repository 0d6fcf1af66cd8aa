"""Fast sampling from the command line: --lora, --teacache / --cache, --fast, --attention, as a user runs them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lora_files import comfyui_keys, random_lora, write
from PIL import Image

from realisdance import cli, latents_file
from realisdance.checkpoints import load_transformer
from realisdance.tiny import build_tiny_release
from realisdance.video import write_video

SMALL = ["--frames", "5", "--max-area", str(64 * 96), "--device", "cpu"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("model") / "RealisDance-DiT")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (80, 50, 3), dtype=np.uint8)).save(root / "ref.png")
    for name in ("smpl", "hamer"):
        write_video(root / f"{name}.mp4", rng.integers(0, 255, (8, 64, 96, 3), dtype=np.uint8), fps=24)
    return root


@pytest.fixture(scope="module")
def lora(release, tmp_path_factory):
    model = load_transformer(release, dtype="fp32")
    tensors = comfyui_keys(random_lora(model, ["blocks.0.attn1.to_q", "blocks.1.ffn.net.2", "proj_out"], alpha=2.0))
    return write(tmp_path_factory.mktemp("loras") / "style.safetensors", tensors)


def animate(release, media, out, *extra):
    args = ["animate", "--model", str(release), "--ref", str(media / "ref.png"), "--smpl", str(media / "smpl.mp4")]
    args += ["--hamer", str(media / "hamer.mp4"), "--out", str(out), *SMALL, *extra]
    return cli.main(args)


def latents(path):
    return latents_file.load_latents(f"{path}.latents.pt").latents


def test_a_lora_changes_the_video_and_strength_zero_does_not(release, media, lora, tmp_path, capsys):
    assert animate(release, media, tmp_path / "plain.mp4", "--steps", "2") == 0
    assert animate(release, media, tmp_path / "zero.mp4", "--steps", "2", "--lora", f"{lora}:0") == 0
    assert animate(release, media, tmp_path / "styled.mp4", "--steps", "2", "--lora", f"{lora}:0.8") == 0
    torch.testing.assert_close(latents(tmp_path / "zero.mp4"), latents(tmp_path / "plain.mp4"), rtol=0, atol=0)
    assert not torch.equal(latents(tmp_path / "styled.mp4"), latents(tmp_path / "plain.mp4"))
    assert "LoRA style.safetensors x0.8 (merge)" in capsys.readouterr().out  # the plan line names it


def test_teacache_reports_what_it_skipped(release, media, tmp_path, capsys):
    assert animate(release, media, tmp_path / "a.mp4", "--steps", "8", "--teacache", "40000") == 0
    out = capsys.readouterr().out
    assert "step cache teacache 40000" in out
    skipped = int(out.split("TeaCache: skipped ")[1].split(" of 16")[0])
    assert 0 < skipped <= 2 * (8 - 5)  # the first 5 steps of each branch are always computed


def test_fast_fills_the_distilled_settings_unless_given(release, media, tmp_path, capsys):
    assert animate(release, media, tmp_path / "a.mp4", "--fast") == 0
    captured = capsys.readouterr()
    assert "sampling: 4 steps, CFG 1, scheduler distill" in captured.out
    assert "without a distill LoRA" in captured.err  # stated plainly: --fast needs distilled weights
    assert animate(release, media, tmp_path / "b.mp4", "--fast", "--steps", "2", "--cfg", "2") == 0
    captured = capsys.readouterr()
    assert "sampling: 2 steps, CFG 2, scheduler distill" in captured.out and "made for CFG 1" in captured.err


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--lora", "missing.safetensors"], "LoRA file not found"),
        (["--lora", "x.safetensors:strong"], "strength"),
        (["--teacache", "--cache", "magcache"], "two different step caches"),
        (["--teacache", "-1"], "positive"),
        (["--attention", "sage"], "sageattention"),
    ],
)
def test_bad_speed_options_are_one_sentence_before_any_load(release, media, tmp_path, capsys, extra, words):
    assert animate(release, media, tmp_path / "a.mp4", *extra) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and "loaded" not in err


def test_a_lora_for_another_model_size_is_refused_in_one_sentence(release, media, tmp_path, capsys):
    key = "diffusion_model.blocks.0.self_attn.q"
    tensors = {f"{key}.lora_down.weight": torch.zeros(2, 5120), f"{key}.lora_up.weight": torch.zeros(5120, 2)}
    assert animate(release, media, tmp_path / "a.mp4", "--lora", str(write(tmp_path / "big.safetensors", tensors))) == 2
    out = capsys.readouterr()
    assert "another model size" in out.err and "loaded" not in out.out  # from the config, before the weights
