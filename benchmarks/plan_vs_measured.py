"""The planner's activation estimate against a measured peak, without a GPU.

Builds the real architecture on the meta device (no memory), runs one forward at the requested size under a dispatch
mode that counts the bytes of live tensor storages op by op (``realisdance.memory.measure``), and compares the peak
with ``dit_activation_peak``. Target: within 10 %.

    python benchmarks/plan_vs_measured.py                       # 14B-I2V, 576x1024x81, bf16 (the default job)
    python benchmarks/plan_vs_measured.py --height 480 --width 832 --dtype fp32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from realisdance.memory import JobSize
from realisdance.memory.activations import dit_activation_peak
from realisdance.memory.measure import cache_rope_on_meta, measure_forward
from realisdance.model import build_transformer, named_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def meta_inputs(config: dict, job: JobSize) -> dict:
    t, h, w = job.latent_frames, job.latent_height, job.latent_width
    image = config.get("image_dim")
    return {
        "hidden_states": torch.empty(1, config["in_channels"], t, h, w, device="meta"),
        "timestep": torch.empty(1, device="meta"),
        "encoder_hidden_states": torch.empty(1, 512, config["text_dim"], device="meta"),
        "encoder_hidden_states_image": None if image is None else torch.empty(1, 257, image, device="meta"),
        "add_cond": torch.empty(1, config["add_cond_in_dim"], t, h, w, device="meta"),
        "attn_cond": torch.empty(1, config["attn_cond_in_dim"], 1, job.height // 8, job.width // 8, device="meta"),
    }


def compare(config_name: str, job: JobSize, dtype: str, layers: int | None = None) -> dict:
    config = named_config(config_name, **({"num_layers": layers} if layers else {}))
    model = build_transformer(config, device="meta", dtype=DTYPES[dtype])
    grid = (job.latent_frames, job.height // 16, job.width // 16)
    start = time.perf_counter()
    measured = measure_forward(
        model, meta_inputs(config, job), setup=cache_rope_on_meta(model, grid, (1, job.height // 16, job.width // 16))
    )
    estimate = dit_activation_peak(config, job, compute_bytes=DTYPES[dtype].itemsize)
    return {
        "config": config_name,
        "job": f"{job.num_frames}x{job.height}x{job.width}",
        "dtype": dtype,
        "tokens": job.tokens,
        "measured": measured.peak_bytes,
        "peak op": measured.peak_op,
        "estimate": estimate.total_bytes,
        "worst phase": estimate.worst_phase,
        "seconds": time.perf_counter() - start,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="14B-I2V")
    parser.add_argument("--layers", type=int, default=None, help="fewer blocks (the peak is per block)")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--height", type=int, default=576)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    args = parser.parse_args(argv)
    row = compare(args.config, JobSize(args.frames, args.height, args.width), args.dtype, args.layers)
    error = (row["estimate"] - row["measured"]) / row["measured"]
    print("| config | job | dtype | tokens | measured peak | planner estimate | error | measured at | estimate phase |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {row['config']} | {row['job']} | {row['dtype']} | {row['tokens']:,} | {row['measured'] / 2**30:.3f} GiB "
        f"| {row['estimate'] / 2**30:.3f} GiB | {error:+.1%} | {row['peak op']} | {row['worst phase']} |"
    )
    print(f"({row['seconds']:.1f} s on the meta device)")
    return 0 if abs(error) <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
