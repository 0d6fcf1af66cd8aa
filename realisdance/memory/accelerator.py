"""The few device calls of parking, pinning and streaming that differ between an accelerator and the CPU.

Everything else in ``streaming.py`` is device-agnostic torch. These calls are gathered here so that tests can put a
recording stand-in in their place (``substituted``) and run the parking and pinning paths on a CPU-only machine,
where a plain run skips them: the stand-in treats an indexed CPU device (``cpu:0``) as the accelerator and records
where each tensor was sent and which tensors were pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

HOST = torch.device("cpu")


class Accelerator:
    """What a real run uses: CUDA is the accelerator, the CPU is the host."""

    def is_accelerator(self, device: torch.device) -> bool:
        return device.type != "cpu"

    def move(self, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
        return tensor.to(device)

    def pin(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor if tensor.is_pinned() else tensor.pin_memory()

    def side_stream(self, device: torch.device) -> bool:
        """Whether diffusers' group offloading may copy on a side stream (CUDA streams only)."""
        return device.type == "cuda"

    def empty_cache(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.empty_cache()


_current: Accelerator = Accelerator()


def current() -> Accelerator:
    return _current


@contextmanager
def substituted(accelerator: Accelerator) -> Iterator[Accelerator]:
    """Use ``accelerator`` for the block (tests)."""
    global _current
    previous, _current = _current, accelerator
    try:
        yield accelerator
    finally:
        _current = previous
