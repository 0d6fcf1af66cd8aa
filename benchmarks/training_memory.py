"""The training memory plan against a real training step (issue 15).

    python benchmarks/training_memory.py                        # CPU: fp32, peak resident memory of a fresh process
    python benchmarks/training_memory.py --device cuda --bf16   # GPU: torch.cuda.max_memory_allocated

Each row runs one AdamW step (forward, backward, optimiser) of a random-weight model of the named config with fewer
blocks, in a fresh process, and compares what it took with ``plan_training_memory``: on the CPU the growth of the
peak resident set from just before the model is built (weights, gradients, optimiser state and activations all
live in host memory there), on CUDA the peak allocated device memory. The plan measures the activations on the meta
device; this checks that sum against an allocator.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
import torch
from realisdance.memory.sizes import JobSize
from realisdance.model import build_transformer, named_config
from realisdance.training.memory_plan import meta_inputs, plan_training_memory
from realisdance.training.parts import TrainableParts, select_trainable

torch.set_num_threads(2)
config = named_config({config!r}, num_layers={layers})
job = JobSize({frames}, {height}, {width})
parts = TrainableParts({strategy!r})
cuda = {device!r} == "cuda"
plan = plan_training_memory(config, job, parts, {bf16}, {checkpointing})
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
inputs = {{k: (None if v is None else torch.randn(v.shape, dtype=torch.float32, device={device!r}))
          for k, v in meta_inputs(config, job, torch.float32).items()}}
inputs["timestep"] = torch.tensor([500.0], device={device!r})
before = rss()
model = build_transformer(config, device={device!r})
select_trainable(model, parts)
if {checkpointing}:
    model.enable_gradient_checkpointing()
model.train()
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
if cuda:
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() - sum(p.numel() * p.element_size() for p in model.parameters())
with torch.autocast({device!r}, dtype=torch.bfloat16, enabled={bf16}):
    out = model(**inputs, return_dict=False)[0]
    out.float().square().mean().backward()
del out
optimizer.step()
taken = (torch.cuda.max_memory_allocated() - base) if cuda else rss() - before
print(json.dumps({{"planned": plan.total, "taken": taken, "backward_peak": plan.backward_peak,
                  "weights": plan.weights, "optimizer": plan.optimizer, "gradients": plan.gradients}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--config", default="1.3B-T2V")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", default="256x256", help="HEIGHTxWIDTH")
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    print(f"{args.config} with {args.layers} blocks, {args.frames} frames at {width}x{height}, {args.device}"
          f"{' bf16 autocast' if args.bf16 else ' fp32'}")  # fmt: skip
    print("| trains | gradient checkpointing | planned GiB | taken GiB | taken / planned |")
    print("|---|---|---|---|---|")
    for strategy in ("full", "part"):
        for checkpointing in (False, True):
            code = CHILD.format(root=str(ROOT), config=args.config, layers=args.layers, frames=args.frames,
                                height=height, width=width, strategy=strategy, device=args.device, bf16=args.bf16,
                                checkpointing=checkpointing)  # fmt: skip
            # A fixed mmap threshold: glibc otherwise raises it after each large free, and the heap's freed chunks
            # (not returned to the system) then count in the resident set as if they were live.
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
            if done.returncode:
                sys.exit(done.stderr[-3000:])
            row = json.loads(done.stdout.strip().splitlines()[-1])
            gib = 2**30
            print(f"| {strategy} | {'yes' if checkpointing else 'no'} | {row['planned'] / gib:.2f} | "
                  f"{row['taken'] / gib:.2f} | {row['taken'] / row['planned']:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
