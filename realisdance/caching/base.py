"""What every step cache shares: which branch and step each DiT forward is, and how many forwards it skipped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class StepCache:
    """Attached to a transformer for one sampling run; the sampler wraps each forward in ``branch(name, step)``."""

    name = "cache"
    states_per_branch = 1  # token-sized tensors kept between forwards, per CFG branch (for the memory plan)

    def __init__(self, num_steps: int) -> None:
        self.num_steps = num_steps
        self.computed = 0
        self.skipped = 0
        self.current_branch = "cond"
        self.current_step = 0
        self.forwards_per_call = 1  # CFG branches one call computes (ComfyUI batches cond and uncond together)

    def attach(self, transformer: torch.nn.Module) -> None:
        raise NotImplementedError

    def detach(self, transformer: torch.nn.Module) -> None:
        raise NotImplementedError

    @contextmanager
    def branch(self, name: str, step: int) -> Iterator[None]:
        """One forward of the ``name`` CFG branch ("cond" / "uncond") at sampling step ``step`` (from 0)."""
        self.current_branch, self.current_step = name, step
        yield

    def describe(self) -> str:
        total = self.computed + self.skipped
        return f"{self.name}: skipped {self.skipped} of {total} DiT forwards ({self.computed} computed)"
