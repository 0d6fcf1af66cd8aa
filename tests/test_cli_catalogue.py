"""A catalogue of bad command lines: each ends in exit code 2 with one line starting with ``error:``, no traceback,
nothing left behind, and no model loaded (each is refused before the first load; a spy on the loader checks it)."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from realisdance import batch_layout, cli, latents_file
from realisdance.demo_inputs import write_demo_inputs
from realisdance.tiny import build_tiny_release

SMALL = ["--frames", "5", "--max-area", str(64 * 96), "--steps", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("cat_model") / "RealisDance-DiT")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("cat_media"))


@pytest.fixture
def no_load(monkeypatch):
    """Fails the test if a run gets as far as loading the model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was refused")

    monkeypatch.setattr(cli, "_load_pipeline", refuse)


def _run(argv, capsys) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _animate(release, media, out, *extra):
    return ["animate", "--model", release, "--ref", media["ref"], "--smpl", media["smpl"], "--hamer", media["hamer"],
            "--out", out, *SMALL, *extra]  # fmt: skip


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--steps", "0"], "steps"),
        (["--seed", str(2**70)], "seed"),
        (["--seed", "-1"], "seed"),
        (["--cfg", "nan"], "guidance"),
        (["--cfg", "inf"], "guidance"),
        (["--cfg", "-1"], "guidance"),
        (["--max-area", "1"], "max_area"),
        (["--max-area", str(10**12)], "max_area"),
        (["--frames", "80"], "4k+1"),
        (["--device", "gpu"], "unknown device"),
        (["--vram-budget", "nan"], "--vram-budget"),
        (["--vram-budget", "-2"], "--vram-budget"),
    ],
)
def test_bad_numbers_are_refused_before_loading(release, media, tmp_path, capsys, no_load, extra, words):
    err = _run(_animate(release, media, tmp_path / "o.mp4", *extra), capsys)
    assert words in err
    assert not list(tmp_path.iterdir())  # nothing written, no .partial


def test_bad_outputs_are_refused_before_loading(release, media, tmp_path, capsys, no_load):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.mp4").mkdir()
    for out, words in [
        ("/proc/forbidden/out.mp4", "cannot write"),
        (tmp_path / "afile" / "out.mp4", "is a file"),
        (tmp_path / "out.avi", "must end in .mp4"),
        (tmp_path / "noextension", "must end in .mp4"),
        (tmp_path / "adir.mp4", "is a folder"),
    ]:
        assert words in _run(_animate(release, media, out), capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.mp4", "afile"]


def test_model_folders_that_are_not_the_release_say_what_to_give(release, media, tmp_path, capsys, no_load):
    out = tmp_path / "o.mp4"
    err = _run(_animate(release / "transformer", media, out), capsys)
    assert "give --model its parent folder" in err
    err = _run(_animate(release / "transformer" / "config.json", media, out), capsys)
    assert "--transformer" in err
    partial = tmp_path / "partial"
    shutil.copytree(release, partial, ignore=shutil.ignore_patterns("scheduler"))
    err = _run(_animate(partial, media, out), capsys)
    assert "scheduler/ is missing" in err


def test_root_and_single_job_options_together_are_refused(release, media, tmp_path, capsys, no_load):
    argv = _animate(release, media, tmp_path / "o.mp4") + ["--root", tmp_path]
    assert "not both" in _run(argv, capsys)


def test_prompt_files_in_utf16_are_read_and_undecodable_ones_named(tmp_path, capsys):
    (tmp_path / "p16.txt").write_bytes("une danseuse\n".encode("utf-16"))
    assert batch_layout.read_prompt(tmp_path / "p16.txt") == "une danseuse\n"
    (tmp_path / "bad.txt").write_bytes(b"\xff\xff\xfe\x00abc\x80")
    from realisdance.errors import InputError

    with pytest.raises(InputError, match="not UTF-8"):
        batch_layout.read_prompt(tmp_path / "bad.txt")


@pytest.mark.parametrize(
    "record, words",
    [
        ({"fps": 1e-9}, "frame rate"),
        ({"fps": math.nan}, "frame rate"),
        ({"latents": torch.full((1, 16, 2, 8, 12), math.nan)}, "NaN"),
    ],
)
def test_decode_refuses_damaged_latents_files(release, tmp_path, capsys, record, words):
    path = tmp_path / "x.mp4.latents.pt"
    latents_file.save_latents(path, torch.zeros(1, 16, 2, 8, 12))
    data = torch.load(path, weights_only=True)
    torch.save({**data, **record}, path)
    assert words in _run(["decode", "--model", release, "--latents", path, "--device", "cpu"], capsys)
    assert not (tmp_path / "x.mp4").exists()


def test_decode_refuses_a_nonsense_budget(release, tmp_path, capsys):
    path = tmp_path / "x.mp4.latents.pt"
    latents_file.save_latents(path, torch.zeros(1, 16, 2, 8, 12))
    for budget in ("nan", "0", "-1"):
        argv = ["decode", "--model", release, "--latents", path, "--vram-budget", budget, "--device", "cpu"]
        assert "--vram-budget must be a positive number" in _run(argv, capsys)


def test_decode_to_an_unwritable_place_is_refused_before_the_vae_loads(release, tmp_path, capsys):
    path = tmp_path / "x.mp4.latents.pt"
    latents_file.save_latents(path, torch.zeros(1, 16, 2, 8, 12))
    argv = ["decode", "--model", release, "--latents", path, "--out", "/proc/forbidden/out.mp4", "--device", "cpu"]
    assert "cannot write" in _run(argv, capsys)
