"""The command line as a user runs it: single and batch jobs, saved latents, errors as one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realisdance import batch_layout, cli, latents_file
from realisdance.tiny import build_tiny_release
from realisdance.video import probe_video, read_video, write_video

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
    jobs = batch_layout.batch_jobs(tmp_path / "batch", tmp_path / "out")
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
        latents = latents_file.load_latents(tmp_path / "out" / f"{name}.mp4.latents.pt").latents
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
        (["--vae-tile", "100"], "multiple of 8"),
        (["--vae-tile", "64", "--vae-overlap", "64"], "smaller than the tile"),
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
    a = latents_file.load_latents(resident.with_name(resident.name + ".latents.pt")).latents
    b = latents_file.load_latents(streamed.with_name(streamed.name + ".latents.pt")).latents
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_budget_nothing_fits_is_refused_before_loading(release, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert cli.main(single_args(tmp_path, release, out, "--vram-budget", "0.0001")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "needs at least" in err and "Traceback" not in err
    assert not out.exists()


# -- the decode stage: saved latents -> video, retried after running out of memory ---------------------------------


@pytest.fixture
def written_frames(monkeypatch):
    """Every video the command line writes: {path name: the float frames handed to write_video}."""
    import realisdance.video

    frames = {}
    real = realisdance.video.write_video

    def spy(path, video, **kwargs):
        video = torch.stack([torch.as_tensor(frame) for frame in video])  # the decode streams frames to the writer
        frames[Path(path).name] = video.clone()
        return real(path, video, **kwargs)

    monkeypatch.setattr(realisdance.video, "write_video", spy)
    return frames


@pytest.fixture
def vae_calls(monkeypatch):
    """The ``tiling`` of every VAE decode call (whole or streamed), which still runs."""
    from realisdance.encoders.vae import VideoVAE

    calls = []
    real, real_chunks = VideoVAE.decode, VideoVAE.decode_chunks

    def spy(self, latents, tiling=None):
        calls.append(tiling)
        return real(self, latents, tiling=tiling)

    def spy_chunks(self, latents, tiling=None, **kwargs):
        calls.append(tiling)
        return real_chunks(self, latents, tiling, **kwargs)

    monkeypatch.setattr(VideoVAE, "decode", spy)
    monkeypatch.setattr(VideoVAE, "decode_chunks", spy_chunks)
    return calls


def simulate_out_of_memory(monkeypatch):
    from realisdance.encoders.vae import VideoVAE
    from realisdance.encoders.vae_streaming import StreamingDecoder

    def out_of_memory(self, latents, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(VideoVAE, "decode", out_of_memory)
    monkeypatch.setattr(StreamingDecoder, "decode", out_of_memory)  # the streamed decode of the command line


def test_decode_of_saved_latents_reproduces_the_animate_video(release, tmp_path, written_frames):

    out, again = tmp_path / "out.mp4", tmp_path / "again.mp4"
    assert cli.main(single_args(tmp_path, release, out)) == 0
    latents = out.with_name("out.mp4.latents.pt")
    assert cli.main(["decode", "--model", str(release), "--latents", str(latents), "--out", str(again)]) == 0
    torch.testing.assert_close(written_frames["again.mp4"], written_frames["out.mp4"], rtol=0, atol=0)
    first, fps = read_video(out)
    second, fps_again = read_video(again)
    assert fps == fps_again == 16 and first.shape == (5, 64, 96, 3)
    np.testing.assert_array_equal(first, second)
    assert not list(tmp_path.glob(".*partial*"))


def test_decode_reads_the_bare_tensor_older_versions_saved(release, tmp_path):
    latents = torch.randn(1, 16, 2, 8, 12, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "old.mp4.latents.pt"
    torch.save(latents, path)
    assert cli.main(["decode", "--model", str(release / "vae"), "--latents", str(path), "--device", "cpu"]) == 0
    info = probe_video(tmp_path / "old.mp4")  # the default output drops ".latents.pt"
    assert (info.frame_count, info.height, info.width, info.fps) == (5, 64, 96, 16)


def test_decode_vae_tile_override_reaches_the_vae(release, tmp_path, written_frames, vae_calls):
    from realisdance.encoders import load_vae
    from realisdance.encoders.vae_tiling import VaeTiling

    latents = torch.randn(1, 16, 2, 8, 12, generator=torch.Generator().manual_seed(4))
    path = tmp_path / "x.mp4.latents.pt"
    latents_file.save_latents(path, latents)
    argv = ["decode", "--model", str(release), "--latents", str(path), "--vae-tile", "32", "--vae-overlap", "8"]
    assert cli.main(argv) == 0
    assert vae_calls == [VaeTiling(32, 8)]
    vae = load_vae(release)
    tiled = vae.decode(latents, tiling=VaeTiling(32, 8))[0].permute(1, 2, 3, 0)
    untiled = vae.decode(latents)[0].permute(1, 2, 3, 0)
    torch.testing.assert_close(written_frames["x.mp4"], tiled, rtol=0, atol=0)
    assert (written_frames["x.mp4"] - untiled).abs().max() > 1e-4  # the tiles did change something


def test_animate_vae_tile_override_shows_in_the_plan_and_reaches_the_vae(release, tmp_path, capsys, vae_calls):
    from realisdance.encoders.vae_tiling import VaeTiling

    out = tmp_path / "out.mp4"
    assert cli.main(single_args(tmp_path, release, out, "--plan-only", "--vae-tile", "32")) == 0
    assert "VAE decode: tiles 32 px" in capsys.readouterr().out
    assert cli.main(single_args(tmp_path, release, out, "--vae-tile", "32", "--vae-overlap", "16")) == 0
    assert vae_calls == [VaeTiling(32, 16)]
    assert cli.main(single_args(tmp_path, release, out, "--vram-budget", "4", "--vae-tile", "0")) == 0
    assert vae_calls[1:] == [None] and "VAE decode: untiled" in capsys.readouterr().out


def test_animate_out_of_memory_in_decode_keeps_the_latents_and_names_the_retry(
    release, tmp_path, capsys, monkeypatch, written_frames
):
    import shlex

    out = tmp_path / "out.mp4"
    with monkeypatch.context() as patch:
        simulate_out_of_memory(patch)
        assert cli.main(single_args(tmp_path, release, out)) == 2
    stderr = capsys.readouterr().err
    err = stderr.strip().splitlines()[-1]  # the lines before it are the sampling progress bar
    latents = tmp_path / "out.mp4.latents.pt"
    assert err.startswith("error: decoding ran out of device memory (untiled); the latents are saved at ")
    assert str(latents) in err and "Traceback" not in stderr
    assert latents.is_file() and not out.exists()
    # the advice is a command that works: it decodes the saved latents with smaller tiles
    command = shlex.split(err.split("`")[1])
    assert command[:4] == ["python3", "-m", "realisdance", "decode"] and "--vae-tile" in command
    assert cli.main(command[3:]) == 0
    assert probe_video(out).frame_count == 5
    assert written_frames["out.mp4"].shape == (5, 64, 96, 3)


def test_decode_out_of_memory_at_the_smallest_tile_suggests_the_cpu(release, tmp_path, capsys, monkeypatch):
    path = tmp_path / "x.mp4.latents.pt"
    latents_file.save_latents(path, torch.zeros(1, 16, 2, 8, 12))
    simulate_out_of_memory(monkeypatch)
    assert cli.main(["decode", "--model", str(release), "--latents", str(path), "--vae-tile", "64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: decoding ran out of device memory (with 64 px tiles)") and "Traceback" not in err
    assert f"--latents {path}" in err and err.rstrip().endswith("--device cpu`")
    assert path.is_file() and not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a tensor at all", "is not a latents file saved by animate"),
        (torch.zeros(1, 8, 2, 8, 12), "8 channels"),
        (torch.zeros(16, 2, 8, 12), "not latents of one video"),
        ({"latents": torch.zeros(1, 16, 2, 8, 12)}, "holds a dict"),
        (None, "no such file"),
    ],
)
def test_decode_refuses_what_is_not_a_latents_file(release, tmp_path, capsys, content, message):
    path = tmp_path / "x.mp4.latents.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    assert cli.main(["decode", "--model", str(release), "--latents", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


# -- encoders on the CPU -------------------------------------------------------------------------------------------


def test_encoders_on_cpu_shows_in_the_plan(release, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert cli.main(single_args(tmp_path, release, out, "--plan-only", "--vram-budget", "4", "--encoders-on-cpu")) == 0
    printed = capsys.readouterr().out
    assert "text encoder: CPU; CLIP: CPU" in printed and "as asked" in printed
    assert cli.main(single_args(tmp_path, release, out, "--plan-only", "--vram-budget", "4")) == 0
    assert "text encoder: device, then offloaded; CLIP: device, then offloaded" in capsys.readouterr().out


@pytest.mark.parametrize("on_cpu", [True, False])
def test_encoders_on_cpu_are_never_moved(release, tmp_path, monkeypatch, on_cpu):
    # A budget makes every component visit the device per stage; on this CPU-only machine the "device" is the CPU,
    # so what is checked is that umT5 and CLIP are never sent anywhere (and, as a control, that they are otherwise).
    from realisdance.encoders.wrapped import WrappedModule

    moves = []
    real = WrappedModule.to

    def spy(self, device=None, dtype=None):
        moves.append(type(self).__name__)
        return real(self, device=device, dtype=dtype)

    monkeypatch.setattr(WrappedModule, "to", spy)
    flag = ["--encoders-on-cpu"] if on_cpu else []
    prompt = f"a prompt not in the text cache {tmp_path.name}"
    argv = single_args(tmp_path, release, tmp_path / "out.mp4", "--vram-budget", "4", "--prompt", prompt, *flag)
    assert cli.main(argv) == 0
    encoder_moves = {"TextEncoder", "ClipImageEncoder"} & set(moves)
    assert "VideoVAE" in moves
    assert encoder_moves == (set() if on_cpu else {"TextEncoder", "ClipImageEncoder"})


def test_out_of_memory_while_sampling_says_to_plan_for_less(release, tmp_path, capsys, monkeypatch):
    from realisdance.model.transformer import RealisDanceTransformer

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(RealisDanceTransformer, "forward", out_of_memory)
    out = tmp_path / "out.mp4"
    assert cli.main(single_args(tmp_path, release, out, "--vram-budget", "4")) == 2
    stderr = capsys.readouterr().err
    err = stderr.strip().splitlines()[-1]
    assert err.startswith("error: sampling ran out of device memory although the plan")
    assert "--vram-budget 2" in err and "Traceback" not in stderr
    assert not out.exists()


def test_the_command_runs_from_any_folder_and_help_shows_every_default(tmp_path):
    """After the README's setup (an editable install of the core), `realisdance` and `python3 -m realisdance` work
    outside the repository."""
    import shutil
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    module = subprocess.run([sys.executable, "-m", "realisdance", "animate", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert module.returncode == 0, module.stderr
    options = module.stdout.split("options:", 1)[1]
    entries = {entry.split()[0]: entry for entry in options.split("\n  -") if entry.strip()}
    for option in ("-steps", "-cfg", "-seed", "-frames", "-max-area", "-scheduler", "-memory", "-out-dir"):
        assert "(default:" in entries[option], entries[option]
    script = shutil.which("realisdance")
    assert script is not None, "the console script is missing: run the README's setup command"
    assert subprocess.run([script, "--help"], cwd=tmp_path, env=env, capture_output=True).returncode == 0


def test_a_gpu_with_a_cpu_only_torch_is_said_once(monkeypatch, capsys):
    import argparse

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(cli, "nvidia_gpu_present", lambda: True)
    args = argparse.Namespace(device=None)
    assert cli._device(args) == "cpu" and cli._device(args) == "cpu"
    err = capsys.readouterr().err
    assert err.count("CPU-only build") == 1 and "install the CUDA build of torch" in err
    monkeypatch.setattr(cli, "nvidia_gpu_present", lambda: False)
    assert cli._device(argparse.Namespace(device=None)) == "cpu" and not capsys.readouterr().err


def test_a_cpu_plan_says_it_is_a_cpu_run(release, tmp_path, capsys):
    assert cli.main(single_args(tmp_path, release, tmp_path / "out.mp4", "--plan-only")) == 0
    printed = capsys.readouterr().out
    assert "a CPU run: everything in host RAM" in printed and "budget no limit" not in printed
    assert "text encoder and CLIP: beside the DiT" in printed and "then offloaded" not in printed


def test_frames_all_takes_the_whole_pose_clip_in_windows(release, tmp_path, capsys):
    write_item(tmp_path / "in", "long", frames=30)  # 30 frames at 24 fps: 20 at 16 fps, so 17 (4k+1)
    folder = tmp_path / "in"
    base = ["animate", "--model", str(release), "--ref", str(folder / "ref" / "long.png"),
            "--smpl", str(folder / "smpl" / "long.mp4"), "--hamer", str(folder / "hamer" / "long.mp4"),
            "--max-area", str(64 * 96), "--steps", "2", "--device", "cpu"]  # fmt: skip
    out = tmp_path / "long.mp4"
    windows = ["--frames", "all", "--window", "9", "--window-overlap", "4"]
    assert cli.main([*base, "--out", str(out), *windows, "--plan-only"]) == 0
    plan = capsys.readouterr().out
    assert "17 frames in windows of 9" in plan and "2 windows of 3 latent frames" in plan
    assert "8 window forwards, about 2x the time of one window-long clip" in plan  # 2 windows x 2 steps x 2 branches
    assert cli.main([*base, "--out", str(out), *windows]) == 0
    assert probe_video(out).frame_count == 17
    assert latents_file.load_latents(f"{out}.latents.pt").latents.shape[2] == 5
    for bad, words in ((["--window", "8"], "4k+1"), (["--window-overlap", "3"], "multiple of 4"),
                       (["--window", "9", "--window-overlap", "8"], "shorter than the window")):  # fmt: skip
        assert cli.main([*base, "--out", str(tmp_path / "x.mp4"), *bad]) == 2
        assert words in capsys.readouterr().err


@pytest.mark.parametrize("scheme", ["average", "continue"])
def test_an_interrupted_long_clip_resumes_to_the_uninterrupted_video(release, tmp_path, capsys, monkeypatch, scheme):
    from realisdance.pipeline import window_sampling

    write_item(tmp_path / "in", "long", frames=38)  # 38 frames at 24 fps: 25 at 16 fps, 7 latent frames
    folder = tmp_path / "in"
    base = ["animate", "--model", str(release), "--ref", str(folder / "ref" / "long.png"),
            "--smpl", str(folder / "smpl" / "long.mp4"), "--hamer", str(folder / "hamer" / "long.mp4"),
            "--max-area", str(64 * 96), "--steps", "2", "--device", "cpu", "--frames", "all", "--window", "9",
            "--window-overlap", "4", "--window-scheme", scheme]  # fmt: skip
    whole, out = tmp_path / "whole.mp4", tmp_path / "out.mp4"
    assert cli.main([*base, "--out", str(whole)]) == 0
    assert "sampling in windows" in capsys.readouterr().out
    progress = out.with_name("out.mp4.progress.pt")
    real_velocity = window_sampling.WindowRun.window_velocity
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # 3 windows x 2 steps: in the second step (average) / the last window (continue)
            raise KeyboardInterrupt
        return real_velocity(self, *args, **kwargs)

    monkeypatch.setattr(window_sampling.WindowRun, "window_velocity", interrupted)
    monkeypatch.setattr(window_sampling.SamplingProgress, "due", lambda self: True)
    assert cli.main([*base, "--out", str(out)]) == 130
    assert progress.is_file() and not out.exists()
    assert "run the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(window_sampling.WindowRun, "window_velocity", real_velocity)
    assert cli.main([*base, "--out", str(out)]) == 0
    assert "resuming at" in capsys.readouterr().out
    assert not progress.exists()  # all in the latents file now
    saved = {name: latents_file.load_latents(f"{path}.latents.pt").latents for name, path in (("a", whole), ("b", out))}
    torch.testing.assert_close(saved["b"], saved["a"], rtol=0, atol=0)
    np.testing.assert_array_equal(read_video(out)[0], read_video(whole)[0])


def test_a_batch_goes_on_past_a_bad_clip_and_a_rerun_does_only_what_is_missing(release, tmp_path, capsys):
    root, out = tmp_path / "batch", tmp_path / "out"
    for name in ("a", "b", "c"):
        write_item(root, name)
    bad = root / "hamer" / "b.mp4"
    write_video(bad, np.zeros((8, 32, 48, 3), dtype=np.uint8), fps=24)  # the hand video of another size
    args = ["animate", "--model", str(release), "--root", str(root), "--out-dir", str(out), *SMALL]
    assert cli.main(args) == 2
    printed = capsys.readouterr().out
    assert (out / "a.mp4").is_file() and (out / "c.mp4").is_file() and not (out / "b.mp4").exists()
    assert "batch: 2 done, 0 skipped (video already there), 1 failed (b: " in printed
    write_item(root, "b")  # fixed
    assert cli.main(args) == 0
    assert "batch: 1 done, 2 skipped (video already there)" in capsys.readouterr().out
    assert (out / "b.mp4").is_file()


def test_two_workers_share_a_batch_and_a_bad_clip_does_not_stop_the_others(release, tmp_path, capsys):
    root, out = tmp_path / "batch", tmp_path / "out"
    for name in ("a", "b", "c"):
        write_item(root, name)
    write_video(root / "hamer" / "b.mp4", np.zeros((8, 32, 48, 3), dtype=np.uint8), fps=24)
    args = ["animate", "--model", str(release), "--root", str(root), "--out-dir", str(out), "--workers", "2", *SMALL]
    assert cli.main(args) == 2
    printed = capsys.readouterr().out
    assert "worker on cpu: a,c" in printed and "worker on cpu: b" in printed  # round-robin shares
    assert (out / "a.mp4").is_file() and (out / "c.mp4").is_file() and not (out / "b.mp4").exists()
    assert "batch: 2 done, 0 skipped (video already there), 1 failed (b: " in printed
