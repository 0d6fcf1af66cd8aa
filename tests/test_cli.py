"""The command line as a user runs it: single and batch jobs, saved latents, errors as one sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realisdance import cli
from realisdance.tiny import build_tiny_release
from realisdance.video import probe_video, write_video

SMALL = ["--frames", "5", "--max-area", str(64 * 96), "--steps", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("model") / "RealisDance-DiT")


def write_item(root, name, prompt=None, frames=8, size=(64, 96)):
    rng = np.random.default_rng(len(name))
    for folder in ("ref", "smpl", "hamer", "prompt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (80, 50, 3), dtype=np.uint8)).save(root / "ref" / f"{name}.png")
    for stream in ("smpl", "hamer"):
        write_video(root / stream / f"{name}.mp4", rng.integers(0, 255, (frames, *size, 3), dtype=np.uint8), fps=24)
    if prompt is not None:
        (root / "prompt" / f"{name}.txt").write_text(prompt)


def test_batch_folder_in_the_official_layout(release, tmp_path):
    write_item(tmp_path / "batch", "a", prompt="a person\n dancing \n")
    write_item(tmp_path / "batch", "b")
    jobs = cli.batch_jobs(tmp_path / "batch", tmp_path / "out")
    assert [(j.ref.name, j.prompt, j.out.name) for j in jobs] == [
        ("a.png", "a person dancing", "a.mp4"),
        ("b.png", "", "b.mp4"),
    ]
    code = cli.main(
        [
            "animate",
            "--model",
            str(release),
            "--root",
            str(tmp_path / "batch"),
            "--out-dir",
            str(tmp_path / "out"),
            *SMALL,
        ]
    )
    assert code == 0
    for name in ("a", "b"):
        info = probe_video(tmp_path / "out" / f"{name}.mp4")
        assert (info.frame_count, info.height, info.width, info.fps) == (5, 64, 96, 16)
        latents = torch.load(tmp_path / "out" / f"{name}.mp4.latents.pt")
        assert latents.shape == (1, 16, 2, 8, 12)
    assert not list((tmp_path / "out").glob(".*partial*"))


def test_single_run_default_output_name(release, tmp_path, monkeypatch):
    write_item(tmp_path / "in", "dancer")
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        [
            "animate",
            "--model",
            str(release),
            "--ref",
            str(tmp_path / "in/ref/dancer.png"),
            "--smpl",
            str(tmp_path / "in/smpl/dancer.mp4"),
            "--hamer",
            str(tmp_path / "in/hamer/dancer.mp4"),
            "--prompt",
            "",
            *SMALL,
        ]
    )
    assert code == 0 and (tmp_path / "dancer_dancer.mp4").is_file()  # <ref>_<smpl>.mp4 as the release names it


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frames", "6"], "4k+1"),
        (["--ref", "missing.png"], "missing.png"),
        (["--hamer", "{other}"], "hamer"),
    ],
)
def test_bad_input_is_one_sentence_and_writes_nothing(release, tmp_path, capsys, args, message):
    write_item(tmp_path / "in", "x")
    write_item(tmp_path / "other", "x", size=(80, 96))
    base = {
        "--ref": str(tmp_path / "in/ref/x.png"),
        "--smpl": str(tmp_path / "in/smpl/x.mp4"),
        "--hamer": str(tmp_path / "in/hamer/x.mp4"),
        "--out": str(tmp_path / "out.mp4"),
    }
    small = dict(zip(SMALL[::2], SMALL[1::2], strict=True))
    overrides = dict(zip(args[::2], args[1::2], strict=True))
    if overrides.get("--hamer") == "{other}":
        overrides["--hamer"] = str(tmp_path / "other/hamer/x.mp4")
    merged = {**base, **small, **overrides}
    argv = ["animate", "--model", str(release)] + [item for pair in merged.items() for item in pair]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err  # checked before any load
    assert not (tmp_path / "out.mp4").exists()


def test_model_folder_that_is_not_realisdance(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["animate", "--model", str(tmp_path / "empty"), "--root", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def single_args(tmp_path, release, out, *extra):
    write_item(tmp_path / "in", "m")
    return [
        "animate",
        "--model",
        str(release),
        "--ref",
        str(tmp_path / "in/ref/m.png"),
        "--smpl",
        str(tmp_path / "in/smpl/m.mp4"),
        "--hamer",
        str(tmp_path / "in/hamer/m.mp4"),
        "--out",
        str(out),
        *SMALL,
        *extra,
    ]


def test_plan_only_prints_the_plan_and_runs_nothing(release, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert cli.main(single_args(tmp_path, release, out, "--plan-only", "--vram-budget", "4")) == 0
    printed = capsys.readouterr().out
    assert "memory plan: resident" in printed and "5 frames at 96x64" in printed and "sampling" in printed
    assert not out.exists() and not out.with_name(out.name + ".latents.pt").exists()


def test_streamed_run_prints_its_plan_and_matches_the_resident_run(release, tmp_path, capsys):
    resident, streamed = tmp_path / "resident.mp4", tmp_path / "streamed.mp4"
    assert cli.main(single_args(tmp_path, release, resident, "--memory", "resident")) == 0
    assert cli.main(single_args(tmp_path, release, streamed, "--memory", "stream-all", "--vram-budget", "1")) == 0
    printed = capsys.readouterr().out
    assert "0 of 2 blocks resident, blocks 0-1 streamed" in printed
    a = torch.load(resident.with_name(resident.name + ".latents.pt"))
    b = torch.load(streamed.with_name(streamed.name + ".latents.pt"))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_budget_nothing_fits_is_refused_before_loading(release, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert cli.main(single_args(tmp_path, release, out, "--vram-budget", "0.0001")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "needs at least" in err and "Traceback" not in err
    assert not out.exists()
