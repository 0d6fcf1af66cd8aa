"""A run either writes a correct video or says where its work is: latents survive a failed save (rescued), NaN
samples are kept and named instead of becoming a black video, two runs never share an output, killed runs' leftovers
are cleaned or recovered, and SIGTERM gets Ctrl-C's clean-up and message."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from realisdance import cli, latents_file
from realisdance.demo_inputs import write_demo_inputs
from realisdance.errors import InputError
from realisdance.output_paths import OutputClaim
from realisdance.tiny import build_tiny_release

SMALL = ["--frames", "5", "--max-area", str(64 * 96), "--steps", "1", "--device", "cpu"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("lost_model") / "RealisDance-DiT")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("lost_media"))


def _animate(release, media, out):
    argv = ["animate", "--model", release, "--ref", media["ref"], "--smpl", media["smpl"], "--hamer", media["hamer"],
            "--out", out, *SMALL]  # fmt: skip
    return [str(a) for a in argv]


def test_latents_that_cannot_be_saved_in_place_are_rescued(release, media, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "CACHE_DIR", tmp_path / "cache")
    real_save = cli.save_latents

    def full_disk(path, latents, *args, **kwargs):
        if path.parent == tmp_path / "out":
            raise OSError(28, "No space left on device")
        return real_save(path, latents, *args, **kwargs)

    monkeypatch.setattr(cli, "save_latents", full_disk)
    (tmp_path / "out").mkdir()
    assert cli.main(_animate(release, media, tmp_path / "out" / "dance.mp4")) == 0
    err = capsys.readouterr().err
    (rescued,) = (tmp_path / "cache" / "rescued").glob("dance.mp4.*.latents.pt")
    assert "No space left on device" in err and str(rescued) in err
    assert latents_file.load_latents(rescued).latents.shape == (1, 16, 2, 8, 12)


def test_nan_samples_are_kept_and_named_never_a_black_video(release, media, tmp_path, monkeypatch, capsys):
    def nan_sample(self, conditions, settings, **kwargs):
        return torch.full(conditions.latent_shape, math.nan)

    from realisdance.pipeline.api import RealisDancePipeline

    monkeypatch.setattr(RealisDancePipeline, "sample", nan_sample)
    out = tmp_path / "dance.mp4"
    out.write_bytes(b"an older video of another run")
    assert cli.main(_animate(release, media, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the sampling progress bar
    assert err.startswith("error: sampling produced NaN") and "dance.mp4.latents.pt" in err and "\n" not in err
    assert not out.exists()  # neither a black video nor the older one beside these latents
    assert (tmp_path / "dance.mp4.latents.pt").is_file()


def test_a_second_run_to_the_same_output_is_refused_while_the_first_holds_it(tmp_path):
    out = tmp_path / "dance.mp4"
    with OutputClaim(out):
        with pytest.raises(InputError, match="another run"):
            with OutputClaim(out):
                pass
    with OutputClaim(out):  # released: the next run takes it
        pass


def test_stale_locks_and_partials_of_killed_runs_are_cleaned_and_complete_latents_recovered(tmp_path):
    out = tmp_path / "dance.mp4"
    (tmp_path / ".dance.mp4.lock").write_text("999999999")  # a process that does not exist
    (tmp_path / ".dance.mp4.0123456789ab.partial").write_bytes(b"half a video")
    complete = tmp_path / ".dance.mp4.latents.pt.abcdefabcdef.partial"
    latents_file.save_latents(complete, torch.zeros(1, 16, 2, 8, 12))  # killed between writing and renaming
    (tmp_path / ".dance.mp4.latents.pt.ffffffffffff.partial").write_bytes(b"torn")
    said = []
    with OutputClaim(out, say=said.append):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dance.mp4.latents.pt"]
    assert said and "recovered" in said[0]
    assert latents_file.load_latents(tmp_path / "dance.mp4.latents.pt").latents.shape == (1, 16, 2, 8, 12)


@pytest.mark.slow
def test_sigterm_stops_like_ctrl_c_and_leaves_nothing_half_written(release, media, tmp_path):
    out = tmp_path / "dance.mp4"
    argv = _animate(release, media, out)
    argv[argv.index("--steps") + 1] = "400"  # long enough to be stopped while sampling
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "realisdance", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "memory plan" not in (proc.stdout.readline() or ""):
        pass
    time.sleep(3)  # into the sampling
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert not list(tmp_path.glob(".*")), list(tmp_path.iterdir())  # no partial, no lock
    assert not out.exists()


def test_ctrl_c_during_the_latents_save_waits_for_the_file_then_says_it_was_kept(release, media, tmp_path,
                                                                                  monkeypatch, capsys):  # fmt: skip
    real_save = cli.save_latents

    def save_then_interrupt(path, latents, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives while the file is being written
        time.sleep(0.2)
        return real_save(path, latents, *args, **kwargs)

    monkeypatch.setattr(cli, "save_latents", save_then_interrupt)
    out = tmp_path / "dance.mp4"
    assert cli.main(_animate(release, media, out)) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "interrupted" in err and "dance.mp4.latents.pt" in err, err
    assert latents_file.load_latents(tmp_path / "dance.mp4.latents.pt").latents.shape == (1, 16, 2, 8, 12)
    assert not list(tmp_path.glob(".*"))


@pytest.mark.slow
def test_a_concurrent_run_is_refused_and_a_killed_runs_leftovers_do_not_block_the_next(release, media, tmp_path):
    """Two real processes on one --out: the second is refused while the first samples; after SIGKILL (no clean-up
    at all) the next run takes the output over and nothing hidden stays."""
    out = tmp_path / "dance.mp4"
    slow = _animate(release, media, out)
    slow[slow.index("--steps") + 1] = "400"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-m", "realisdance", *slow], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "memory plan" not in (first.stdout.readline() or ""):
        pass
    time.sleep(2)
    second = subprocess.run([sys.executable, "-m", "realisdance", *_animate(release, media, out)],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert second.returncode == 2 and "another run" in second.stderr, second.stderr
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    assert (tmp_path / ".dance.mp4.lock").exists()  # SIGKILL leaves its lock
    third = subprocess.run([sys.executable, "-m", "realisdance", *_animate(release, media, out)],
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert third.returncode == 0, third.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dance.mp4", "dance.mp4.latents.pt"]
