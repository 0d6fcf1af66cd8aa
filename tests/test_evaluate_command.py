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
