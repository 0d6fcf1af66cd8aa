"""Peak memory of Wan 2.1 VAE decoding, tiled against untiled, as the frame count grows.

    python benchmarks/vae_memory.py --measure live --frames 21 41                        # seconds per case
    python benchmarks/vae_memory.py --measure rss --frames 2 4 --height 288 --width 512  # real compute

Both use the REAL Wan 2.1 VAE architecture (default ``AutoencoderKLWan`` config, random weights), fp32 as in the
release, batch 1, and run each case in a fresh subprocess so cases cannot pollute each other.

``--measure live`` runs the decode on the meta device under a dispatch mode that adds up the bytes of every live
tensor storage after each aten op: the exact peak of activation memory (what a GPU allocator's
max_memory_allocated sees, less workspaces), without computing anything. The attention runs as the math
decomposition there, so the untiled peak includes the (h*w)^2 attention matrix that a flash kernel would not store.

``--measure rss`` really decodes on the CPU and reports the child's peak resident memory (VmHWM, reset after the
model is built) above its resident memory before the decode. On the 2-core sandbox one 576x1024 latent frame takes
minutes, so use it at smaller sizes / fewer frames.

Each row also shows ``decode_peak_bytes`` (realisdance.encoders.vae_tiling), the planner's prediction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads({threads})
from benchmarks.vae_memory import run_case
print("RESULT " + json.dumps(run_case({case!r})))
"""


def _status_kib(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_high_water_mark() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS (so model building does not count)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _tiling(case: dict):
    from realisdance.encoders.vae_tiling import VaeTiling

    return VaeTiling(case["tile"], case["overlap"]) if case.get("tile") else None


def run_case(case: dict) -> dict:
    """One decode (B=1, 16 channels) of ``case['frames']`` latent frames; returns its peak activation bytes."""
    import time

    import torch
    from diffusers import AutoencoderKLWan

    from realisdance.encoders.vae import VideoVAE
    from realisdance.memory.measure import measure_call

    dtype = getattr(torch, case["dtype"])
    tiling = _tiling(case)
    shape = (1, 16, case["frames"], case["height"] // 8, case["width"] // 8)
    if case["measure"] == "live":
        with torch.device("meta"):
            vae = VideoVAE(AutoencoderKLWan().to(dtype))
        latents = torch.zeros(shape, device="meta")
        start = time.perf_counter()
        # The decoder's mid-block attention is counted as the kernel it runs (not a fused model of it).
        measured = measure_call(lambda: vae.decode(latents, tiling), fused_attention=False)
        out = 3 * (1 + 4 * (case["frames"] - 1)) * case["height"] * case["width"] * 4
        return {"peak": measured.peak_bytes, "seconds": time.perf_counter() - start, "out": out}
    torch.manual_seed(0)
    vae = VideoVAE(AutoencoderKLWan().to(dtype))
    latents = torch.randn(shape)
    before = _status_kib("VmRSS")
    reset = _reset_high_water_mark()
    start = time.perf_counter()
    video = vae.decode(latents, tiling)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    return {"peak": (peak - before) * 1024, "seconds": seconds, "out": video.numel() * 4, "hwm_reset": reset}


def run_in_child(case: dict, threads: int) -> dict:
    code = CHILD.format(root=str(ROOT), threads=threads, case=case)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    if done.returncode:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-3000:]}")
    line = [row for row in done.stdout.splitlines() if row.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", choices=("live", "rss"), default="live")
    parser.add_argument("--frames", type=int, nargs="+", default=[21, 41], help="latent frames (21 = 81 video frames)")
    parser.add_argument("--height", type=int, default=576)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from realisdance.encoders.vae_tiling import decode_peak_bytes

    rows = []
    gib = 2**30
    print(f"{args.measure}: Wan 2.1 VAE decode, {args.height}x{args.width}, {args.dtype}")
    print("mode            latent frames  peak GiB  peak-result GiB  predicted GiB  seconds")
    for tile in (None, args.tile):
        for frames in args.frames:
            case = {
                "measure": args.measure,
                "frames": frames,
                "height": args.height,
                "width": args.width,
                "tile": tile,
                "overlap": args.overlap if tile else None,
                "dtype": args.dtype,
            }
            result = run_in_child(case, args.threads)
            predicted = decode_peak_bytes(frames, args.height, args.width, _tiling(case), getattr(torch, args.dtype))
            row = {**case, **result, "predicted": predicted}
            rows.append(row)
            mode = f"tile {tile}/{args.overlap}" if tile else "untiled"
            print(
                f"{mode:<15} {frames:>13}  {row['peak'] / gib:8.2f}  {(row['peak'] - row['out']) / gib:15.2f}"
                f"  {predicted / gib:13.2f}  {row['seconds']:7.1f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
