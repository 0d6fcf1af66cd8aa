"""A one-line form of a ``MemoryPlan`` for a node's summary under the node in the UI."""

from __future__ import annotations

from realisdance.memory.sizes import GIB


def _gib(num_bytes: int) -> str:
    if num_bytes < GIB // 10:  # small models (tests, previews) would all read "0.0 GiB"
        return f"{num_bytes / 2**20:.1f} MiB"
    return f"{num_bytes / GIB:.1f} GiB"


def short_plan(plan) -> str:
    """e.g. 'plan: 4/40 blocks resident, 27.1 GiB pinned, VAE tile 512, peak 11.0 GiB of 12.0 GiB'."""
    resident = plan.num_blocks - len(plan.streamed_blocks)
    parts = [f"plan: {resident}/{plan.num_blocks} blocks resident"]
    if plan.streams:
        parts.append(f"{_gib(plan.pinned_bytes)} {'pinned' if plan.pin_memory else 'pageable'}")
    if plan.dtype.startswith("fp8"):
        parts.append(f"{plan.dtype} storage")
    if plan.vae_tiling is not None:
        parts.append(f"VAE tile {plan.vae_tiling.tile}")
    if plan.budget_bytes is None:
        parts.append("no device limit")
    else:
        parts.append(f"peak {_gib(plan.peak_bytes)} of {_gib(plan.budget_bytes)}")
    return ", ".join(parts)
