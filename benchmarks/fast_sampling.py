"""Fast-sampling settings side by side: DiT forwards per clip, sampling wall time, speed-up over the release setting,
and (``--quality``) PSNR / SSIM of each setting's video against the release setting's.

    python benchmarks/fast_sampling.py                                   # tiny random model, CPU (wiring + timing)
    python benchmarks/fast_sampling.py --model /path/to/RealisDance-DiT --device cuda --quality \\
        --distill-lora lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors --out-dir bench_videos
    python benchmarks/fast_sampling.py --lora-cost                       # merged vs PEFT-adapter LoRA forward time

On random weights the caches' skip counts and the quality numbers say nothing about the real model (its timestep
projection and residuals change differently from step to step); there they only show that the settings run. The
quality columns mean something on the real release with the real distill LoRA, on a GPU.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# name -> (steps, CFG, scheduler kind, step cache (kind, threshold) or None, needs the distill LoRA)
SETTINGS = {
    "release": (40, 2.0, "auto", None, False),
    "teacache 0.2": (40, 2.0, "auto", ("teacache", 0.2), False),
    "magcache": (40, 2.0, "auto", ("magcache", None), False),
    "fbcache": (40, 2.0, "auto", ("fbcache", None), False),
    "distill 4": (4, 1.0, "distill", None, True),
    "distill 8 + magcache": (8, 1.0, "distill", ("magcache", None), True),
}


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def demo_media():
    from realisdance.demo_inputs import write_demo_inputs

    return write_demo_inputs(Path.home() / ".cache" / "realisdance" / "demo-inputs")


def load(model: Path, device: str, lora: Path | None):
    from realisdance.lora import LoraSpec
    from realisdance.pipeline.api import RealisDancePipeline
    from realisdance.pipeline.model_patches import ModelPatches

    patches = ModelPatches(loras=(LoraSpec(lora),) if lora else ())
    return RealisDancePipeline.from_pretrained(model, device=device, patches=patches)


def run_setting(pipe, model: Path, conditions, name: str, seed: int):
    from realisdance.caching import StepCacheSettings, make_step_cache
    from realisdance.encoders import load_scheduler
    from realisdance.pipeline.sampling import SamplerSettings

    steps, cfg, kind, cache, _ = SETTINGS[name]
    pipe.scheduler = load_scheduler(model, kind=kind)
    step_cache = make_step_cache(None if cache is None else StepCacheSettings(*cache), steps)
    calls = []
    handle = pipe.transformer.register_forward_pre_hook(lambda module, args: calls.append(1))
    if pipe.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    latents = pipe.sample(conditions, SamplerSettings(steps=steps, guidance=cfg, seed=seed), step_cache=step_cache)
    if pipe.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    handle.remove()
    computed = len(calls) if step_cache is None else step_cache.computed
    return latents, {"forwards": len(calls), "computed": computed, "seconds": seconds}


def settings_table(args) -> None:
    from realisdance.cli import tiny_release
    from realisdance.evaluation import psnr, ssim
    from realisdance.pipeline.preprocess import prepare_inputs
    from realisdance.video import write_video

    model = args.model or tiny_release()
    media = demo_media()
    prepared = prepare_inputs(media["ref"], media["smpl"], media["hamer"], args.frames, args.max_area)
    base = load(model, args.device, None)
    distilled = load(model, args.device, args.distill_lora) if args.distill_lora else base
    conditions = base.build_conditions(prepared, args.prompt)
    rows, videos = [], {}
    for name in args.settings:
        pipe = distilled if SETTINGS[name][4] else base
        latents, row = run_setting(pipe, model, conditions, name, args.seed)
        rows.append((name, row))
        if args.quality or args.out_dir:
            videos[name] = pipe.decode(latents).numpy()
            if args.out_dir:
                args.out_dir.mkdir(parents=True, exist_ok=True)
                write_video(args.out_dir / f"{name.replace(' ', '_').replace('+', 'plus')}.mp4", videos[name], fps=16)
    release_seconds = dict(rows).get("release", {}).get("seconds")
    lora_note = f" + {args.distill_lora.name}" if args.distill_lora else " (no distill LoRA: speed only)"
    print(f"\n{machine(args.device)}; {model}; {prepared.num_frames} frames at {prepared.width}x{prepared.height}"
          f"{lora_note}")  # fmt: skip
    print("| setting | DiT forwards (computed / called) | sampling s | speed-up | PSNR dB | SSIM |")
    print("|---|---|---|---|---|---|")
    for name, row in rows:
        speedup = f"{release_seconds / row['seconds']:.2f}x" if release_seconds else "-"
        quality = ["-", "-"]
        if args.quality and "release" in videos and name != "release":
            quality = [f"{psnr(videos['release'], videos[name]):.2f}", f"{ssim(videos['release'], videos[name]):.4f}"]
        print(f"| {name} | {row['computed']} / {row['forwards']} | {row['seconds']:.2f} | {speedup} | "
              f"{quality[0]} | {quality[1]} |")  # fmt: skip


def lora_cost(args) -> None:
    """One forward of a CPU-sized transformer: no LoRA, rank-64 LoRA merged, the same kept as PEFT adapters."""
    from safetensors.torch import save_file

    from realisdance.lora import LoraSpec, apply_loras
    from realisdance.model import build_transformer, named_config

    config = named_config(args.lora_config, num_layers=args.layers)
    torch.manual_seed(0)
    base = build_transformer(config).to(args.device).eval()
    targets = [n for n, m in base.named_modules() if isinstance(m, torch.nn.Linear) and n.startswith("blocks.")]
    tensors = {}
    for name in targets:
        weight = base.get_submodule(name).weight
        tensors[f"transformer.{name}.lora_A.weight"] = torch.randn(64, weight.shape[1]) * 0.01
        tensors[f"transformer.{name}.lora_B.weight"] = torch.randn(weight.shape[0], 64) * 0.01
    path = Path("/tmp/realisdance_bench_lora.safetensors")
    save_file(tensors, str(path))
    inputs = {
        "hidden_states": torch.randn(1, config["in_channels"], 2, 32, 32),
        "timestep": torch.tensor([500]),
        "encoder_hidden_states": torch.randn(1, 512, config["text_dim"]),
        "add_cond": torch.randn(1, config["add_cond_in_dim"], 2, 32, 32),
        "attn_cond": torch.randn(1, 16, 1, 32, 32),
    }
    if config.get("image_dim"):
        inputs["encoder_hidden_states_image"] = torch.randn(1, 257, config["image_dim"])
    inputs = {k: v.to(args.device) for k, v in inputs.items()}
    times = {}
    for mode in ("none", "merge", "adapter"):
        model = build_transformer(config).to(args.device).eval()
        model.load_state_dict(base.state_dict())
        if mode != "none":
            apply_loras(model, [LoraSpec(path, 1.0)], mode=mode)
        rounds = []
        with torch.no_grad():
            for _ in range(args.rounds + 1):
                start = time.perf_counter()
                model(**inputs, return_dict=False)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                rounds.append(time.perf_counter() - start)
        times[mode] = statistics.median(rounds[1:])
    tokens = 2 * 16 * 16 + 16 * 16
    print(f"\n{machine(args.device)}; {args.lora_config} with {args.layers} blocks, {tokens} tokens, rank-64 LoRA on "
          f"{len(targets)} linear layers")  # fmt: skip
    print("| LoRA | forward s (median) | vs no LoRA |")
    print("|---|---|---|")
    for mode, seconds in times.items():
        print(f"| {mode} | {seconds:.3f} | {seconds / times['none']:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="release folder (default: the tiny random one)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--max-area", type=int, default=256 * 448)
    parser.add_argument("--prompt", default="a person dancing")
    parser.add_argument("--seed", type=int, default=1024)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--distill-lora", type=Path, default=None, help="the step-distill LoRA for the distill rows")
    parser.add_argument("--quality", action="store_true", help="decode every setting; PSNR / SSIM vs release")
    parser.add_argument("--out-dir", type=Path, default=None, help="also write each setting's video here")
    parser.add_argument("--lora-cost", action="store_true", help="time merged vs adapter LoRA instead")
    parser.add_argument("--lora-config", default="1.3B-T2V")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    np.set_printoptions(precision=4)
    if args.lora_cost:
        lora_cost(args)
    else:
        settings_table(args)


if __name__ == "__main__":
    main()
