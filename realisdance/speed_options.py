"""The fast-sampling options of a command-line run: LoRAs, step caches, compile, attention and the ``--fast`` preset."""

from __future__ import annotations

import argparse
import sys

from .errors import InputError

# --fast: what step-distilled Wan 2.1 I2V models are made for (lightx2v's I2V 14B step/cfg distill LoRA and the Wan
# wrapper's "flowmatch_distill"): 4 steps of flow Euler at shift 5, no CFG (one forward per step).
FAST_PRESET = {"steps": 4, "cfg": 1.0, "scheduler": "distill"}


class GivenValue(argparse.Action):
    """Stores the value and remembers that the user gave it (so a preset fills in only what was not given)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "given", set()))
        namespace.given = given | {self.dest}


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="PATH[:STRENGTH]",
        help="a LoRA .safetensors for the DiT (diffusers/PEFT, ComfyUI, kohya or lightx2v keys), strength 1 by "
        "default; repeat for several",
    )
    parser.add_argument(
        "--lora-mode",
        default="merge",
        choices=["merge", "adapter"],
        help="merge into the weights (no cost per step), or keep PEFT adapters (needs peft; slower)",
    )
    parser.add_argument(
        "--teacache",
        type=float,
        nargs="?",
        const=0.2,
        default=None,
        metavar="THRESH",
        help="TeaCache as the release runs it (threshold 0.2 when given without a value)",
    )
    parser.add_argument(
        "--cache",
        default=None,
        choices=["teacache", "magcache", "fbcache"],
        help="a step cache: teacache (the release's), magcache (MagCache, diffusers) or fbcache (First Block Cache)",
    )
    parser.add_argument("--cache-threshold", type=float, default=None, help="the --cache threshold (default: its own)")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the transformer blocks (the first step pays for it)"
    )
    parser.add_argument(
        "--attention", default="sdpa", help="attention kernel: sdpa, or sage / flash / xformers when installed"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="step-distilled sampling: 4 steps, CFG 1, flow Euler at shift 5. Needs a distill LoRA (e.g. lightx2v's "
        "I2V 14B 480p cfg/step distill) via --lora, or distilled weights",
    )


def apply_fast_preset(args) -> None:
    """--fast fills --steps, --cfg and --scheduler unless they were given."""
    if not getattr(args, "fast", False):
        return
    given = getattr(args, "given", set())
    for name, value in FAST_PRESET.items():
        if name not in given:
            setattr(args, name, value)
    if args.cfg > 1.0:
        print(f"note: --fast with --cfg {args.cfg}: distilled models are made for CFG 1 (one forward per step)",
              file=sys.stderr)  # fmt: skip
    if not args.lora:
        print("note: --fast samples like a step-distilled model; without a distill LoRA (--lora) or distilled "
              "weights the video will be blurred", file=sys.stderr)  # fmt: skip


def cache_settings(args):
    """``StepCacheSettings`` from --teacache / --cache (None: no cache)."""
    from .caching import StepCacheSettings

    if args.teacache is not None and args.cache not in (None, "teacache"):
        raise InputError("--teacache and --cache choose two different step caches; give one of them")
    if args.teacache is not None:
        return StepCacheSettings("teacache", args.teacache)
    if args.cache is not None:
        return StepCacheSettings(args.cache, args.cache_threshold)
    return None


def model_patches(args):
    """``ModelPatches`` from --lora, --lora-mode, --attention and --compile (LoRA files checked to exist)."""
    from .lora import parse_lora_argument
    from .pipeline.model_patches import ModelPatches

    patches = ModelPatches(
        loras=tuple(parse_lora_argument(text) for text in args.lora),
        lora_mode=args.lora_mode,
        attention=args.attention,
        compile_backend="inductor" if args.compile else None,
    )
    patches.check_files()
    return patches


def describe_speed(args) -> str:
    """One line for the printed plan: sampler, attention kernel, LoRAs, step cache, compile."""
    cache = cache_settings(args)
    specs = model_patches(args).loras
    loras = ", ".join(f"{spec.path.name} x{spec.strength:g}" for spec in specs) or "none"
    cache_text = (
        "off" if cache is None else f"{cache.kind}" + ("" if cache.threshold is None else f" {cache.threshold:g}")
    )
    return (
        f"sampling: {args.steps} steps, CFG {args.cfg:g}, scheduler {args.scheduler}; attention {args.attention}; "
        f"LoRA {loras} ({args.lora_mode}); step cache {cache_text}; compile {'on' if args.compile else 'off'}"
    )
