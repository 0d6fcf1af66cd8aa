"""One DiT forward: RealisDance transformer vs diffusers' WanTransformer3DModel on the same config and weights.

Reports the time ratio without reference tokens (target <= 1.05: our forward must add nothing measurable to Wan's
when the RealisDance paths are idle), the cost of the pose + reference paths, and peak memory.

    python benchmarks/transformer_forward.py --config 1.3B-T2V --layers 4 --frames 9 --height 320 --width 576
    python benchmarks/transformer_forward.py --config 14B-I2V --device cuda --dtype bf16 --frames 81 \
        --height 576 --width 1024          # the default job's token count, on a GPU machine
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from diffusers import WanTransformer3DModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from realisdance.model import build_transformer, named_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def timed_interleaved(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds per variant; variants alternate within each round so load drift hits all of them alike."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    samples: dict[str, list[float]] = {name: [] for name in fns}
    for round_index in range(repeats + 1):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if round_index:  # round 0 is the warm-up (kernels, allocator)
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB (CUDA max allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process max RSS)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="1.3B-T2V")
    parser.add_argument("--layers", type=int, default=None, help="override the number of blocks (CPU runs)")
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--dtype", default="fp32", choices=DTYPES)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    config = named_config(args.config, **({"num_layers": args.layers} if args.layers else {}))
    torch.manual_seed(0)
    ours = build_transformer(config, device=device, dtype=dtype)
    known = set(WanTransformer3DModel._get_init_keys(WanTransformer3DModel)) - {"self"}
    with torch.device(device):
        wan = WanTransformer3DModel(**{k: v for k, v in config.items() if k in known}).eval()
    # Same tensors (and so the same fp32-kept modules) in both models.
    wan.load_state_dict(
        {k: v for k, v in ours.state_dict().items() if not k.startswith(ours.realisdance_modules)}, assign=True
    )

    t, h, w = (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8
    x = torch.randn(1, config["in_channels"], t, h, w, device=device, dtype=dtype)
    step = torch.tensor([500.0], device=device)
    text = torch.randn(1, 512, config["text_dim"], device=device, dtype=dtype)
    image = None
    if config.get("image_dim"):
        image = torch.randn(1, 257, config["image_dim"], device=device, dtype=dtype)
    pose = torch.randn(1, config["add_cond_in_dim"], t, h, w, device=device, dtype=dtype)
    reference = torch.randn(1, 16, 1, h, w, device=device, dtype=dtype)

    with torch.inference_mode():
        times = timed_interleaved(
            {
                "wan": lambda: wan(x, step, text, image),
                "ours": lambda: ours(x, step, text, image),
                "full": lambda: ours(x, step, text, image, add_cond=pose, attn_cond=reference),
            },
            args.repeats,
            device,
        )
    wan_s, ours_s, full_s = times["wan"], times["ours"], times["full"]

    tokens = t * (h // 2) * (w // 2)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(
        f"config {args.config} layers {config['num_layers']} {args.dtype}; latent {t}x{h}x{w}: "
        f"{tokens} video tokens (+{tokens // t} reference tokens in the full run)"
    )
    print(f"diffusers Wan forward     : {wan_s * 1000:9.1f} ms")
    print(f"ours, no pose / reference : {ours_s * 1000:9.1f} ms   ratio {ours_s / wan_s:.3f} (target <= 1.05)")
    print(f"ours, pose + reference    : {full_s * 1000:9.1f} ms   ratio {full_s / wan_s:.3f}")
    print(f"peak memory               : {peak_memory(device)}")


if __name__ == "__main__":
    main()
