"""Device memory and speed of one DiT forward per memory plan, against the planner's prediction (GPU session).

The real 14B-I2V architecture with random weights, initialised straight on the device in bf16 (fp32 only where the
release keeps fp32), at the default job's 50,688 tokens (576x1024, 81 frames). Each row applies a plan with
``place_transformer`` and runs forwards; peak = ``torch.cuda.max_memory_allocated`` during them (weights included),
compared with the planner's "sampling" stage (which also counts the sampler's latents and conditions, ~0.1 GiB).

    python benchmarks/dit_memory.py                     # on a CUDA machine (about 5 min on an H100)
    python benchmarks/dit_memory.py --smoke             # tiny config on the CPU: checks the script, no numbers
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from realisdance.memory import GIB, JobSize, MemoryOptions, ModelFacts, place_transformer, plan_memory
from realisdance.model import build_transformer, named_config
from realisdance.model.precision import cast_keeping_fp32


def random_model(config: dict, device: torch.device) -> torch.nn.Module:
    """Random bf16 weights made on ``device`` directly: meta model -> storage dtypes -> empty -> filled in place."""
    model = build_transformer(config, device="meta")
    cast_keeping_fp32(model, torch.bfloat16)
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.02, generator=generator)
    return model.eval().requires_grad_(False)


def inputs_for(config: dict, job: JobSize, device: torch.device) -> dict:
    g = torch.Generator(device=device).manual_seed(1)
    t, h, w = job.latent_frames, job.latent_height, job.latent_width

    def randn(*shape):
        return torch.randn(*shape, generator=g, device=device)

    image = config.get("image_dim")
    return {
        "hidden_states": randn(1, config["in_channels"], t, h, w),
        "timestep": torch.tensor([900.0], device=device),
        "encoder_hidden_states": randn(1, 512, config["text_dim"]),
        "encoder_hidden_states_image": None if image is None else randn(1, 257, image),
        "add_cond": randn(1, config["add_cond_in_dim"], t, h, w),
        "attn_cond": randn(1, config["attn_cond_in_dim"], 1, job.height // 8, job.width // 8),
    }


def run(model, inputs, device, repeats: int) -> tuple[float, int | None, torch.Tensor]:
    """Median seconds per forward and the peak allocated bytes (CUDA only)."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        out = model(**inputs, return_dict=False)[0]  # warm-up (and diffusers' first-forward bookkeeping)
        sync()
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            out = model(**inputs, return_dict=False)[0]
            sync()
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
    return sorted(times)[len(times) // 2], peak, out.float().cpu()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny config on the CPU (checks the script)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budgets", default="12,24", help="GiB budgets for the streamed rows")
    args = parser.parse_args(argv)
    if args.smoke:
        config, job, device = named_config("tiny-I2V"), JobSize(5, 64, 96), torch.device("cpu")
        budgets = [1e-4]  # forces streaming of the tiny model's blocks
    else:
        config, job, device = named_config("14B-I2V"), JobSize(), torch.device("cuda")
        budgets = [float(b) for b in args.budgets.split(",")]
    facts = ModelFacts(config, "bf16")
    model = random_model(config, device)
    inputs = inputs_for(config, job, device)

    def plan_for(mode: str, budget_gib: float | None, dtype: str = "bf16"):
        """The planner's plan for this row; the smoke run forces the streamed blocks (tiny weights fit anywhere)."""
        row_facts = dataclasses.replace(facts, dtype=dtype)
        budget = None if budget_gib is None or args.smoke else int(budget_gib * GIB)
        plan = plan_memory(row_facts, job, MemoryOptions(mode=mode if not args.smoke else "auto"), free_bytes=budget)
        if args.smoke and mode in ("stream", "stream-all"):
            plan = dataclasses.replace(plan, streamed_blocks=tuple(range(1 if mode == "stream" else 0, 2)))
        return plan

    big = None if args.smoke else 80
    rows = [("resident bf16", plan_for("resident", big))]
    rows += [(f"stream bf16 @ {b:g} GiB", plan_for("stream", b)) for b in budgets]
    rows += [("stream-all bf16", plan_for("stream-all", big))]
    # fp8 last: converting the weights to fp8 storage cannot be undone
    rows += [("resident fp8", plan_for("resident", big, "fp8_e4m3fn"))]
    rows += [("stream-all fp8", plan_for("stream-all", big, "fp8_e4m3fn"))]

    results = []
    reference = None
    for name, plan in rows:
        place_transformer(model, plan, device)
        seconds, peak, out = run(model, inputs, device, args.repeats)
        reference = out if reference is None else reference
        results.append((name, plan, seconds, peak, (out - reference).abs().max().item()))

    base = results[0][2]
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(f"{job.describe()}, {gpu}, torch {torch.__version__}")
    print(
        "| plan | resident blocks | pinned | peak allocated | planner (sampling stage) | step time | ratio "
        "| max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, plan, seconds, peak, diff in results:
        resident = plan.num_blocks - len(plan.streamed_blocks)
        predicted = plan.stage("sampling").bytes
        measured = "n/a (CPU)" if peak is None else f"{peak / GIB:.2f} GiB"
        print(
            f"| {name} | {resident}/{plan.num_blocks} | {plan.pinned_bytes / GIB:.2f} GiB | {measured} | "
            f"{predicted / GIB:.2f} GiB | {seconds:.3f} s | {seconds / base:.2f} | {diff:.2e} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
