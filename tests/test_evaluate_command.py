"""``realisdance evaluate``: per-video PSNR / SSIM, LPIPS / FID / FVD through the user's networks, set totals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from realisdance import cli
from realisdance.evaluation import psnr, ssim
from realisdance.evaluation.frechet import frechet_distance
from realisdance.video import read_video, write_video


class MeanColour(torch.nn.Module):  # a stand-in image feature network: per-channel means and stds (6 features)
    def forward(self, images):
        return torch.cat([images.mean((2, 3)), images.std((2, 3))], dim=1)


class ClipMotion(torch.nn.Module):  # a stand-in clip network: per-channel mean and mean frame change
    def forward(self, clips):
        return torch.cat([clips.mean((2, 3, 4)), (clips[:, :, 1:] - clips[:, :, :-1]).abs().mean((2, 3, 4))], dim=1)


class MeanAbs(torch.nn.Module):  # a stand-in LPIPS: mean absolute difference per image
    def forward(self, x, y):
        return (x - y).abs().mean((1, 2, 3))


def networks(tmp_path):
    paths = {}
    for name, module in (("fid", MeanColour()), ("fvd", ClipMotion()), ("lpips", MeanAbs())):
        paths[name] = tmp_path / f"{name}.pt"
        torch.jit.script(module).save(str(paths[name]))
    return paths


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for index in range(3):
        truth = rng.integers(0, 255, (17, 32, 48, 3), dtype=np.uint8)
        noisy = np.clip(truth.astype(int) + rng.integers(-20, 20, truth.shape), 0, 255).astype(np.uint8)
        write_video(gt / f"v{index}.mp4", truth, fps=16)
        write_video(pred / f"v{index}.mp4", noisy, fps=16)
    return pred, gt


def test_scores_match_the_metrics_on_the_decoded_videos(folders, tmp_path, capsys):
    pred, gt = folders
    nets = networks(tmp_path)
    out = tmp_path / "scores.json"
    argv = ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out), "--fid-network", str(nets["fid"]),
            "--fvd-network", str(nets["fvd"]), "--lpips-network", str(nets["lpips"])]  # fmt: skip
    assert cli.main(argv) == 0
    saved = json.loads(out.read_text())
    frames = {k: {n: torch.from_numpy(read_video(f / f"{n}.mp4")[0]).float() / 255 for n in ("v0", "v1", "v2")}
              for k, f in (("pred", pred), ("gt", gt))}  # fmt: skip
    for name in ("v0", "v1", "v2"):
        a, b = frames["pred"][name], frames["gt"][name]
        assert saved["per_video"][name]["PSNR"] == pytest.approx(psnr(a, b))
        assert saved["per_video"][name]["SSIM"] == pytest.approx(ssim(a, b))
        assert saved["per_video"][name]["LPIPS"] == pytest.approx(float((a - b).abs().mean()), rel=1e-5)
    images = {k: torch.cat([v.permute(0, 3, 1, 2) for v in frames[k].values()]) for k in frames}
    expected_fid = frechet_distance(MeanColour()(images["gt"]), MeanColour()(images["pred"]))
    assert saved["totals"]["FID"] == pytest.approx(expected_fid, rel=1e-4)
    assert "FVD" in saved["totals"] and "| **mean** |" in capsys.readouterr().out


def test_missing_networks_are_named_and_unpaired_videos_refused(folders, capsys):
    pred, gt = folders
    assert cli.main(["evaluate", "--pred", str(pred), "--gt", str(gt)]) == 0
    out = capsys.readouterr().out
    assert "not computed: FID (give --fid-network)" in out and "PSNR" in out
    (gt / "v1.mp4").unlink()
    assert cli.main(["evaluate", "--pred", str(pred), "--gt", str(gt)]) == 2
    assert "no ground truth for v1.mp4" in capsys.readouterr().err


def test_the_tiktok_protocol_cuts_24_frames_with_the_middle_one_as_reference(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(3)
    data = tmp_path / "data"
    frames = np.zeros((80, 96, 64, 3), np.uint8)
    frames[:] = np.arange(80, dtype=np.uint8)[:, None, None, None] * 3  # each frame's grey level names it
    write_video(data / "video" / "c0.mp4", frames, fps=30)
    for kind in ("smpl", "hamer"):
        write_video(data / kind / "c0.mp4", rng.integers(0, 255, (80, 96, 64, 3), dtype=np.uint8), fps=30)
    out = tmp_path / "tiktok"
    assert cli.main(["eval-prepare", "tiktok", "--data", str(data), "--out", str(out)]) == 0
    assert "--frames 25" in capsys.readouterr().out
    truth, fps = read_video(out / "gt" / "c0.mp4")
    assert truth.shape == (24, 896, 512, 3) and fps == 16
    np.testing.assert_allclose(truth[:, 400:500, 200:300].mean((1, 2, 3)), np.arange(1, 72, 3) * 3, atol=3)
    assert read_video(out / "smpl" / "c0.mp4")[0].shape[0] == 25  # 4k+1 for the model
    reference = np.asarray(Image.open(out / "ref" / "c0.png"))
    assert abs(float(reference.mean()) - 37 * 3) < 3  # the middle of frames 1, 4, ..., 70


def test_a_clip_too_short_for_the_protocol_is_refused(tmp_path, capsys):
    data = tmp_path / "data"
    for kind in ("video", "smpl", "hamer"):
        write_video(data / kind / "c0.mp4", np.zeros((30, 32, 32, 3), np.uint8), fps=16)
    assert cli.main(["eval-prepare", "realisdance-val", "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "needs 5 s" in capsys.readouterr().err
