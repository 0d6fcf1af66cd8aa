"""The memory options of a command-line run, from its arguments (``animate``, ``demo`` and ``decode`` share them)."""

from __future__ import annotations

import math

from .errors import InputError


def memory_options(args):
    """``MemoryOptions`` from ``--memory``, ``--vram-budget``, ``--encoders-on-cpu`` and the VAE tiling options;
    a command without some of them (``decode`` has no --memory) gets their defaults."""
    from .memory import GIB, MemoryOptions

    budget = None
    if args.vram_budget is not None:
        if not math.isfinite(args.vram_budget) or args.vram_budget <= 0:
            raise InputError(f"--vram-budget must be a positive number of GiB, got {args.vram_budget}")
        budget = int(args.vram_budget * GIB)
    cached_states = 0
    if hasattr(args, "cache"):
        from .caching import cached_token_states
        from .speed_options import cache_settings

        cached_states = cached_token_states(cache_settings(args), args.cfg)
    return MemoryOptions(
        **parallel_run(args).memory_split(),
        cached_token_states=cached_states,
        mode=getattr(args, "memory", "auto"),
        budget_bytes=budget,
        encoders_on_cpu=getattr(args, "encoders_on_cpu", False),
        vae_tile=args.vae_tile,
        vae_overlap=args.vae_overlap,
    )


def parallel_run(args):
    """``ParallelRun`` from ``--parallel`` and ``--shard-weights`` (commands without them: one process)."""
    from .parallel.settings import ParallelRun

    return ParallelRun(getattr(args, "parallel", "none"), getattr(args, "shard_weights", False))
