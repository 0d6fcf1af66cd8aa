"""Scoring generated videos against the real ones, folder against folder (``realisdance evaluate``).

Videos pair by name (``PRED/<id>.mp4`` with ``GT/<id>.mp4``) and must have the same size; the shorter's frame count
is used (a generator may stop a frame short). Per video: PSNR and SSIM (``frame_metrics``), and LPIPS when a network
is given. Over the set: FID from per-frame features and FVD from 16-frame clip features, when their networks are
given (the user's TorchScript files, ``frechet.py``). Without a network a metric is left out, and said so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InputError
from ..video import read_video
from .frame_metrics import psnr, ssim
from .frechet import frechet_distance, load_feature_network

FVD_CLIP = 16  # frames per clip fed to the video network (StyleGAN-V / the common FVD setting)


@dataclass
class ScoringNetworks:
    fid: Path | None = None  # images (N, 3, H, W) in [0, 1] -> (N, D) features
    fvd: Path | None = None  # clips (N, 3, T, H, W) in [0, 1] -> (N, D) features
    lpips: Path | None = None  # two image batches in [0, 1] -> (N,) distances


@dataclass
class Scores:
    per_video: dict[str, dict[str, float]] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def table(self) -> str:
        names = sorted({metric for row in self.per_video.values() for metric in row})
        lines = ["| video | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for video, row in sorted(self.per_video.items()):
            lines.append(f"| {video} | " + " | ".join(f"{row[n]:.4f}" for n in names) + " |")
        lines.append("| **mean** | " + " | ".join(f"{self.totals[n]:.4f}" for n in names) + " |")
        for name in ("FID", "FVD"):
            if name in self.totals:
                lines.append(f"\n{name}: {self.totals[name]:.3f}")
        lines += [f"\nnot computed: {reason}" for reason in self.skipped]
        return "\n".join(lines)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"per_video": self.per_video, "totals": self.totals, "skipped": self.skipped},
                                   indent=2))  # fmt: skip


def pairs(predictions: Path, truths: Path) -> list[tuple[str, Path, Path]]:
    found = sorted(predictions.glob("*.mp4"))
    if not found:
        raise InputError(f"{predictions} holds no .mp4 videos to score")
    missing = [p.name for p in found if not (truths / p.name).is_file()]
    if missing:
        raise InputError(f"{truths} has no ground truth for {', '.join(missing[:3])}: videos pair by file name")
    return [(p.stem, p, truths / p.name) for p in found]


def _frames(path: Path) -> torch.Tensor:
    video, _ = read_video(path)
    return torch.from_numpy(video).float() / 255.0  # (F, H, W, 3)


def score(predictions: Path, truths: Path, networks: ScoringNetworks | None = None) -> Scores:
    networks = networks or ScoringNetworks()
    scores = Scores()
    lpips = load_feature_network(networks.lpips, "LPIPS", "--lpips-network") if networks.lpips else None
    fid = load_feature_network(networks.fid, "FID", "--fid-network") if networks.fid else None
    fvd = load_feature_network(networks.fvd, "FVD", "--fvd-network") if networks.fvd else None
    for name, option in (("LPIPS", networks.lpips), ("FID", networks.fid), ("FVD", networks.fvd)):
        if option is None:
            scores.skipped.append(f"{name} (give --{name.lower()}-network)")
    features = {"fid": ([], []), "fvd": ([], [])}
    for name, pred_path, truth_path in pairs(Path(predictions), Path(truths)):
        pred, truth = _frames(pred_path), _frames(truth_path)
        if pred.shape[1:] != truth.shape[1:]:
            raise InputError(f"{name}: the prediction is {pred.shape[2]}x{pred.shape[1]} but the ground truth is "
                             f"{truth.shape[2]}x{truth.shape[1]}; score videos of the same size")  # fmt: skip
        count = min(len(pred), len(truth))
        pred, truth = pred[:count], truth[:count]
        row = {"PSNR": psnr(pred, truth), "SSIM": ssim(pred, truth)}
        images_pred, images_truth = pred.permute(0, 3, 1, 2), truth.permute(0, 3, 1, 2)
        with torch.no_grad():
            if lpips is not None:
                row["LPIPS"] = float(lpips(images_pred, images_truth).float().mean())
            if fid is not None:
                features["fid"][0].append(fid(images_truth).float())
                features["fid"][1].append(fid(images_pred).float())
            if fvd is not None:
                for start in range(0, count - FVD_CLIP + 1, FVD_CLIP):
                    window = slice(start, start + FVD_CLIP)
                    features["fvd"][0].append(fvd(images_truth[window].permute(1, 0, 2, 3)[None]).float())
                    features["fvd"][1].append(fvd(images_pred[window].permute(1, 0, 2, 3)[None]).float())
        scores.per_video[name] = row
    names = {metric for row in scores.per_video.values() for metric in row}
    for metric in names:
        values = [row[metric] for row in scores.per_video.values() if math.isfinite(row[metric])]
        scores.totals[metric] = sum(values) / len(values) if values else math.inf
    for key, label in (("fid", "FID"), ("fvd", "FVD")):
        real, fake = features[key]
        if real:
            scores.totals[label] = frechet_distance(torch.cat(real), torch.cat(fake))
    return scores
