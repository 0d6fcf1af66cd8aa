"""Long videos in windows: seams at window boundaries, time and peak memory against the clip's length.

    python benchmarks/long_video.py                                  # tiny random model, 81 / 241 / 481 frames
    python benchmarks/long_video.py --model /path/to/RealisDance-DiT --device cuda --frames 81 241 481

Seam metric: the mean absolute difference between consecutive decoded frames where a window starts or ends,
divided by the same inside windows (1 = no seam). Each length runs in its own process, which reports its peak RSS
(and the device's peak on CUDA). On random weights the video is noise-like, so only the ratio's distance from 1 and
the memory trend mean something; the real model's numbers come from the same command on a GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np, torch
from realisdance.cli import tiny_release
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.pipeline.windows import WindowPlan, latent_frames_of

frames, device, model, area, window, overlap = {frames}, {device!r}, {model!r}, {area}, {window}, {overlap}
model = model or tiny_release()
pipe = RealisDancePipeline.from_pretrained(model, device=device)
rng = np.random.default_rng(0)
t = np.linspace(0, 8 * np.pi, frames)[:, None, None, None]
pose = (0.5 + 0.5 * np.sin(t + np.linspace(0, 3, 96)[None, None, :, None])) * np.ones((frames, 64, 96, 3))
start = time.perf_counter()
out = pipe(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), pose.astype(np.float32), pose.astype(np.float32),
           prompt="a person dancing", num_frames=frames, max_area=area, steps={steps}, pose_fps=16.0,
           window=window, window_overlap=overlap)
seconds = time.perf_counter() - start
video = out.frames.numpy()
diffs = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
plan = WindowPlan(latent_frames_of(frames), latent_frames_of(window), overlap // 4)
edges = set()
for w in plan.windows()[1:]:
    edges.add(4 * w.start)
for w in plan.windows()[:-1]:
    edges.add(4 * (w.stop - 1))
edges = sorted(e for e in edges if 0 < e < frames - 1)
inside = [i for i in range(len(diffs)) if all(abs(i - e) > 2 for e in edges)]
at = [min(e, len(diffs) - 1) for e in edges]
ratio = float(diffs[at].mean() / diffs[inside].mean()) if at else float("nan")
peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
print("RESULT " + json.dumps({{"frames": frames, "windows": len(plan.windows()), "seconds": seconds, "seam": ratio,
      "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
      "device_gib": None if peak is None else peak / 2**30}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[81, 241, 481])
    parser.add_argument("--max-area", type=int, default=64 * 96)
    parser.add_argument("--window", type=int, default=81)
    parser.add_argument("--window-overlap", type=int, default=20)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    print("| frames | windows | seconds | seam ratio (boundary / inside) | peak RSS GiB | device peak GiB |")
    print("|---|---|---|---|---|---|")
    for frames in args.frames:
        code = CHILD.format(root=str(ROOT), frames=frames, device=args.device, model=args.model, area=args.max_area,
                            window=args.window, overlap=args.window_overlap, steps=args.steps)  # fmt: skip
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr[-3000:])
        row = json.loads([line for line in done.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
        device = "-" if row["device_gib"] is None else f"{row['device_gib']:.2f}"
        print(f"| {row['frames']} | {row['windows']} | {row['seconds']:.1f} | {row['seam']:.3f} | "
              f"{row['rss_gib']:.2f} | {device} |")  # fmt: skip


if __name__ == "__main__":
    main()
