"""Step time of one clip on 1, 2, 4, 8 processes with the DiT's sequence split (Ulysses), issue 16.

    python benchmarks/sequence_parallel.py                               # CPU: tiny model, 1 and 2 gloo processes
    python benchmarks/sequence_parallel.py --device cuda --config 14B-I2V --processes 1 2 4 8 --size 576x1024

Each count runs under ``torch.distributed.run`` (one process per GPU on CUDA); the model is built from the named
config with random weights (the time does not depend on them; the 14B model needs its ~32 GB on every GPU unless
``--shard-weights``), in bf16
on CUDA. One "step" is the release's: two DiT forwards (CFG), 81 frames by default; the table shows the mean over
``--repeats`` steps after one warm-up step, and the speed-up against one process.
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
import json, os, sys, time
sys.path.insert(0, {root!r})
import torch
import torch.distributed as dist
from realisdance.model import build_transformer, named_config
from realisdance.parallel.sequence import enable_sequence_parallel

cuda = {device!r} == "cuda"
if not cuda:
    torch.set_num_threads(1)  # one core per process, as torch.distributed.run sets it: a fair 1-process row
world = int(os.environ.get("WORLD_SIZE", "1"))
if world > 1:
    dist.init_process_group("nccl" if cuda else "gloo")
rank = dist.get_rank() if world > 1 else 0
device = torch.device(f"cuda:{{int(os.environ.get('LOCAL_RANK', '0'))}}" if cuda else "cpu")
if cuda:
    torch.cuda.set_device(device)
dtype = torch.bfloat16 if cuda else torch.float32
torch.manual_seed(0)
with torch.device(device):
    model = build_transformer(named_config({config!r})).to(dtype).eval()
if world > 1:
    enable_sequence_parallel(model, "ulysses")
    if {shard}:
        from realisdance.parallel.sharding import shard_weights

        shard_weights(model)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
frames, height, width = {frames}, {height}, {width}
latent = (1, 16, (frames - 1) // 4 + 1, height // 8, width // 8)
c = model.config
g = torch.Generator(device="cpu").manual_seed(1)
hidden = torch.randn(latent[0], c.in_channels, *latent[2:], generator=g).to(device)
pose = torch.randn(1, c.add_cond_in_dim, *latent[2:], generator=g).to(device)
reference = torch.randn(1, 16, 1, *latent[3:], generator=g).to(device)
text = torch.randn(1, 512, c.text_dim, generator=g).to(device)
clip = torch.randn(1, 257, c.image_dim, generator=g).to(device) if c.image_dim else None
t = torch.tensor([500.0], device=device)

def step():
    with torch.no_grad():
        for _ in range(2):
            model(hidden, t, text, clip, add_cond=pose, attn_cond=reference, return_dict=False)
    if cuda:
        torch.cuda.synchronize()

step()
times = []
for _ in range({repeats}):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
if rank == 0:
    open({out!r}, "w").write(json.dumps({{"seconds": sum(times) / len(times), "peak_gib": peak}}))
if world > 1:
    dist.barrier()  # both done before the group goes (gloo can abort when one process leaves first)
    dist.destroy_process_group()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--config", default="tiny-I2V")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size", default="64x96", help="HEIGHTxWIDTH of the video")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-weights", action="store_true", help="FSDP2: each process keeps 1/N of the weights")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    weights = "sharded" if args.shard_weights else "replicated"
    print(
        f"{args.config} on {args.device}, {args.frames} frames at {width}x{height}, one step = 2 forwards (CFG), "
        f"weights {weights}"
    )
    print("| processes | seconds per step | speed-up | peak device GiB per process |")
    print("|---|---|---|---|")
    base = None
    with tempfile.TemporaryDirectory() as scratch:
        for count in args.processes:
            out = Path(scratch) / f"{count}.json"
            script = Path(scratch) / f"{count}.py"
            script.write_text(CHILD.format(root=str(ROOT), device=args.device, config=args.config,
                                           frames=args.frames, height=height, width=width, repeats=args.repeats,
                                           out=str(out), shard=args.shard_weights))  # fmt: skip
            command = [sys.executable, str(script)]
            if count > 1:
                command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={count}",
                           str(script)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr[-3000:])
            row = json.loads(out.read_text())
            base = base or row["seconds"]
            peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.2f}"
            print(f"| {count} | {row['seconds']:.3f} | {base / row['seconds']:.2f}x | {peak} |", flush=True)


if __name__ == "__main__":
    main()
