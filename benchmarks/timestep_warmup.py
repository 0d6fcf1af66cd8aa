"""The paper's Figure 8 at toy scale: uniform vs low-noise warmup vs high-noise warmup timesteps, and large batch /
few steps vs small batch / many steps at equal clips seen. CPU, a few minutes.

    python benchmarks/timestep_warmup.py                 # prints the tables, writes docs/images/timestep_warmup.png

The data is a synthetic animation task in latent space (no VAE, no encoders, generated here): each clip has a
"character" (a random 16-channel pattern: the reference latent), a procedural motion (a path across the frame), a
pose condition (a heat map of the path in the pose channels) and the target (the character drawn at the pose
position in every frame). A tiny RealisDance-DiT (random init, the real architecture: pose added to the video
tokens, reference tokens appended with the shifted RoPE) learns to put the reference where the pose says. Every run
goes through ``realisdance.training.run.train`` (the command's own loop), from the same initial weights and seed.

Training losses under different timestep distributions are not comparable (the loss depends on t), so each run is
also scored on held-out clips with a fixed grid of timesteps spread uniformly over [0, 1000) and fixed noise: the
validation loss is the same measurement for every run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realisdance.model import build_transformer, named_config  # noqa: E402
from realisdance.pipeline.conditions import Branch, Conditions, ModelSignature  # noqa: E402
from realisdance.training.data import DataSettings, _cache_record  # noqa: E402
from realisdance.training.logs import ema  # noqa: E402
from realisdance.training.objective import Dropout, TrainingSample, flow_matching_loss  # noqa: E402
from realisdance.training.parts import TrainableParts  # noqa: E402
from realisdance.training.run import TrainSettings, train  # noqa: E402
from realisdance.training.timesteps import TimestepSchedule  # noqa: E402

FRAMES, SIZE, PATCH = 3, 8, 3  # latent frames, latent side, character side


def toy_model(seed: int = 0):
    torch.manual_seed(seed)
    model = build_transformer(named_config("tiny-I2V", num_layers=2))
    for parameter in model.parameters():  # the tiny config is built empty-ish: give every weight a scale
        if parameter.dim() > 1:
            torch.nn.init.xavier_uniform_(parameter)
    model.initialize_new_modules()
    return model


def toy_clip(model, rng: np.random.Generator) -> TrainingSample:
    config = model.config
    character = torch.from_numpy(rng.normal(size=(16, PATCH, PATCH)).astype(np.float32))
    start, end = rng.uniform(0, SIZE - PATCH, size=2), rng.uniform(0, SIZE - PATCH, size=2)
    target = torch.zeros(1, 16, FRAMES, SIZE, SIZE)
    pose = torch.zeros(1, config.add_cond_in_dim, FRAMES, SIZE, SIZE)
    yy, xx = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    for frame in range(FRAMES):
        y, x = (start + (end - start) * frame / (FRAMES - 1)).round().astype(int)
        target[0, :, frame, y : y + PATCH, x : x + PATCH] = character
        centre_y, centre_x = y + (PATCH - 1) / 2, x + (PATCH - 1) / 2
        pose[0, 0, frame] = torch.exp(-((yy - centre_y) ** 2 + (xx - centre_x) ** 2) / 2.0)
    reference = torch.zeros(1, 16, 1, SIZE, SIZE)
    reference[0, :, 0, :PATCH, :PATCH] = character
    text = torch.zeros(1, 512, config.text_dim)
    clip = torch.zeros(1, 257, config.image_dim)
    positive = Branch(text, clip, reference)
    negative = Branch(text, clip, torch.zeros_like(reference))
    conditions = Conditions(pose, torch.zeros(1, 20, FRAMES, SIZE, SIZE), positive, negative, ModelSignature.of(model),
                            4 * FRAMES - 3, SIZE * 8, SIZE * 8)  # fmt: skip
    return TrainingSample(target, conditions)


def write_clips(model, folder: Path, count: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"clip{index:03d}.pt"
        torch.save(_cache_record(toy_clip(model, rng), DataSettings()), path)
        paths.append(path)
    return paths


def validation_loss(model, clips: list[TrainingSample], grid: int = 10) -> float:
    generator = torch.Generator().manual_seed(1234)
    total = 0.0
    with torch.no_grad():
        for clip in clips:
            for index in range(grid):
                t = torch.tensor([(index + 0.5) * 1000.0 / grid])
                noise = torch.randn(clip.target.shape, generator=generator)
                total += float(flow_matching_loss(model, clip, t, noise))
    return total / (len(clips) * grid)


def run(name, settings, clips, held_out, scratch: Path, every: int) -> dict:
    model = toy_model()
    curve, val = [], {}

    def progress(step, total, loss):
        curve.append(loss)
        if step % every == 0 or step == total:
            model.eval()
            val[step] = validation_loss(model, held_out)
            model.train()

    started = time.perf_counter()
    train(model, clips, scratch / name, settings, say=lambda text: None, progress=progress)
    return {"name": name, "curve": np.array(curve), "val": val, "seconds": time.perf_counter() - started}


def plot(results: list[dict], path: Path, width: int = 720, height: int = 400) -> None:
    import cv2

    canvas = np.full((height, width, 3), 255, np.uint8)
    colours = [(180, 80, 0), (0, 140, 0), (0, 0, 200), (120, 0, 160), (0, 150, 200)]
    points_all = [(r["name"], np.array(sorted(r["val"].items()), dtype=np.float64)) for r in results]
    highest = max(float(p[:, 1].max()) for _, p in points_all)
    lowest = min(float(p[:, 1].min()) for _, p in points_all)
    last = max(float(p[:, 0].max()) for _, p in points_all)
    for index, (name, points) in enumerate(points_all):
        xs = 50 + points[:, 0] / last * (width - 70)
        ys = height - 40 - (points[:, 1] - lowest) / ((highest - lowest) or 1) * (height - 80)
        poly = np.stack([xs, ys], 1).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [poly], False, colours[index % len(colours)], 2, cv2.LINE_AA)
        cv2.putText(canvas, name, (60, 20 + 16 * index), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colours[index % len(colours)], 1, cv2.LINE_AA)  # fmt: skip
    cv2.putText(canvas, f"validation loss {highest:.3f}", (5, 35 + 16 * len(points_all)), cv2.FONT_HERSHEY_SIMPLEX,
                0.4, (0, 0, 0), 1)  # fmt: skip
    cv2.putText(canvas, f"{lowest:.3f}", (5, height - 40), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(canvas, f"step {int(last)}", (width - 90, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--every", type=int, default=25, help="steps between validation scores")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "images" / "timestep_warmup.png")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: more threads only add contention
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model = toy_model()
        clips = write_clips(model, scratch / "train", args.clips, seed=0)
        held_out = [toy_clip(model, np.random.default_rng(99)) for _ in range(8)]
        # From scratch, every parameter trains (the paper's part fine-tuning assumes Wan's pretrained blocks).
        base = dict(learning_rate=args.lr, dropout=Dropout(0.05, 0.05), seed=0, save_every=10**6,
                    parts=TrainableParts("full"))  # fmt: skip
        tau = args.steps // 2
        schedules = {
            "uniform": TimestepSchedule("uniform"),
            "low-noise warmup": TimestepSchedule("low-noise-warmup", alpha=1.0, tau=tau),
            "high-noise warmup": TimestepSchedule("high-noise-warmup", alpha=1.0, tau=tau),
        }
        results = [
            run(
                name,
                TrainSettings(steps=args.steps, batch=args.batch, timesteps=schedule, **base),
                clips,
                held_out,
                scratch,
                args.every,
            )  # fmt: skip
            for name, schedule in schedules.items()
        ]
        plot(results, args.plot)
        marks = sorted({args.every, args.steps // 4, args.steps // 2, args.steps})
        print(f"toy model, {args.clips} clips, batch {args.batch}, lr {args.lr}, warmup tau {tau}, alpha 1; "
              f"validation loss (uniform timestep grid, fixed noise) at step:")  # fmt: skip
        print("| timesteps | " + " | ".join(str(m) for m in marks) + " | final smoothed training loss | seconds |")
        print("|---|" + "---|" * (len(marks) + 2))
        for result in results:
            cells = " | ".join(f"{result['val'][m]:.4f}" if m in result["val"] else "-" for m in marks)
            print(f"| {result['name']} | {cells} | {ema(result['curve'])[-1]:.4f} | {result['seconds']:.0f} |")
        print(f"plot: {args.plot}")

        seen = args.steps * args.batch
        large, small = max(args.batch * 4, 2), max(args.batch // 2, 1)
        batches = {f"batch {large} x {seen // large} steps": large, f"batch {small} x {seen // small} steps": small}
        print(f"\nequal clips seen ({seen}), low-noise warmup over the first half of each run:")
        print("| run | validation loss at the end | seconds |")
        print("|---|---|---|")
        for name, batch in batches.items():
            steps = seen // batch
            schedule = TimestepSchedule("low-noise-warmup", alpha=1.0, tau=max(steps // 2, 1))
            result = run(name.replace(" ", "_"), TrainSettings(steps=steps, batch=batch, timesteps=schedule, **base),
                         clips, held_out, scratch, steps)  # fmt: skip
            print(f"| {name} | {result['val'][steps]:.4f} | {result['seconds']:.0f} |")


if __name__ == "__main__":
    main()
