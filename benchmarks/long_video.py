"""Long videos in windows: seams at window boundaries, time and peak memory against the clip's length, per scheme.

    python benchmarks/long_video.py                       # tiny random model, 81 / 241 / 481 frames, both schemes
    python benchmarks/long_video.py --model /path/to/RealisDance-DiT --device cuda --max-area 589824

Every run is ``python -m realisdance animate`` in its own process (the path users run: pose videos read a chunk at
a time, the decode streamed to the mp4), on synthetic SMPL-CS-like pose videos of the given length; the process
reports its own peak RSS (and the device's peak on CUDA).

Seam metric: the mean absolute difference between consecutive output frames at a window boundary (where a window
starts or ends), divided by the same inside windows (1 = no seam; frames within 2 of a boundary are left out of
"inside"). On random weights the video is noise-like, so only the ratio's distance from 1 and the memory trend mean
something; the real model's numbers come from the same command on a GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import torch
from realisdance import cli
argv = {argv!r}
start = time.perf_counter()
code = cli.main(argv)
seconds = time.perf_counter() - start
peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
print("RESULT " + json.dumps({{"code": code, "seconds": seconds,
      "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
      "device_gib": None if peak is None else peak / 2**30}}))
"""


def write_inputs(folder: Path, frames: int, height: int, width: int) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from realisdance.demo_inputs import pose_frames, reference_image
    from realisdance.video import write_video

    smpl, hamer = pose_frames(frames, height, width)
    paths = {"ref": folder / "ref.png", "smpl": folder / "smpl.mp4", "hamer": folder / "hamer.mp4"}
    Image.fromarray(np.asarray(reference_image())).save(paths["ref"])
    write_video(paths["smpl"], smpl, fps=16)
    write_video(paths["hamer"], hamer, fps=16)
    return paths


def seam_ratio(video_path: Path, frames: int, window: int, overlap: int) -> float:
    import numpy as np

    from realisdance.pipeline.windows import WindowPlan, latent_frames_of
    from realisdance.video import read_video

    video, _ = read_video(video_path)
    diffs = np.abs(np.diff(video.astype(np.float32) / 255, axis=0)).mean(axis=(1, 2, 3))
    plan = WindowPlan(latent_frames_of(frames), latent_frames_of(window), overlap // 4)
    edges = {4 * w.start for w in plan.windows()[1:]} | {4 * (w.stop - 1) for w in plan.windows()[:-1]}
    edges = sorted(edge for edge in edges if 0 < edge < frames - 1)
    if not edges:
        return float("nan")
    inside = [i for i in range(len(diffs)) if all(abs(i - edge) > 2 for edge in edges)]
    at = [min(edge, len(diffs) - 1) for edge in edges]
    return float(diffs[at].mean() / diffs[inside].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="release folder (default: the tiny random one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, nargs="+", default=[81, 241, 481])
    parser.add_argument("--schemes", nargs="+", default=["average", "continue"])
    parser.add_argument("--height", type=int, default=256, help="pose video height (the output keeps its aspect)")
    parser.add_argument("--width", type=int, default=448)
    parser.add_argument("--max-area", type=int, default=256 * 448)
    parser.add_argument("--window", type=int, default=81)
    parser.add_argument("--window-overlap", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from realisdance.cli import tiny_release

    model = args.model or str(tiny_release())
    print(f"{args.height}x{args.width} pose videos, {args.steps} steps, windows of {args.window} frames sharing "
          f"{args.window_overlap}, model {'tiny random' if args.model is None else args.model}")  # fmt: skip
    print("| scheme | frames | windows | seconds | seam ratio (boundary / inside) | peak RSS GiB | device peak GiB |")
    print("|---|---|---|---|---|---|---|")
    from realisdance.pipeline.windows import WindowPlan, latent_frames_of

    with tempfile.TemporaryDirectory() as scratch:
        for frames in args.frames:
            folder = Path(scratch) / str(frames)
            folder.mkdir()
            inputs = write_inputs(folder, frames, args.height, args.width)
            for scheme in args.schemes:
                out = folder / f"{scheme}.mp4"
                argv = ["animate", "--model", model, "--ref", str(inputs["ref"]), "--smpl", str(inputs["smpl"]),
                        "--hamer", str(inputs["hamer"]), "--out", str(out), "--frames", str(frames),
                        "--max-area", str(args.max_area), "--steps", str(args.steps), "--device", args.device,
                        "--window", str(args.window), "--window-overlap", str(args.window_overlap),
                        "--window-scheme", scheme]  # fmt: skip
                code = CHILD.format(root=str(ROOT), argv=argv)
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                rows = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
                if done.returncode or not rows or json.loads(rows[-1][7:])["code"]:
                    sys.exit(done.stdout[-2000:] + done.stderr[-3000:])
                row = json.loads(rows[-1][7:])
                windows = len(WindowPlan(latent_frames_of(frames), latent_frames_of(args.window),
                                         args.window_overlap // 4).windows())  # fmt: skip
                seam = seam_ratio(out, frames, args.window, args.window_overlap)
                device = "-" if row["device_gib"] is None else f"{row['device_gib']:.2f}"
                print(f"| {scheme} | {frames} | {windows} | {row['seconds']:.1f} | {seam:.3f} | {row['rss_gib']:.2f} "
                      f"| {device} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
