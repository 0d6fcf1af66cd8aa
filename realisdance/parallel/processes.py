"""Joining the processes ``torch.distributed.run`` starts: one per GPU (NCCL), or CPU processes on gloo."""

from __future__ import annotations

import os
from datetime import timedelta

WAIT_FOR_FIRST = timedelta(hours=3)


def launched_processes() -> int:
    """How many processes torch.distributed.run started for this job (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join_processes(device: str) -> tuple[int, str]:
    """(rank, device) of this process: under torch.distributed.run (WORLD_SIZE > 1) it joins the default process
    group, NCCL on GPUs (one per process, by LOCAL_RANK), gloo on CPUs; alone it is (0, device)."""
    import torch
    import torch.distributed as dist

    if launched_processes() <= 1:
        return 0, device
    cuda = torch.device(device).type == "cuda"
    if not dist.is_initialized():
        # The others wait while the first process fits a motion, loads and runs the encoders or writes the cache:
        # minutes, past NCCL's default 10-minute watchdog.
        dist.init_process_group("nccl" if cuda else "gloo", timeout=WAIT_FOR_FIRST)
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return dist.get_rank(), device


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def process_rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def share_from_first(value):
    """``value`` as the first process has it, in every process (the others pass None): the encoders run once, in the
    first process, and the conditions they make (CPU tensors) reach the others through the process group."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    box = [value if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def smallest_free_bytes(device) -> int | None:
    """The least free device memory over the processes (None on CPUs): every process plans with it, so they all
    refuse a job together instead of one refusing while the others wait for it."""
    import torch
    import torch.distributed as dist

    from ..memory.device import free_device_bytes

    free = free_device_bytes(device)
    if free is None or not (dist.is_available() and dist.is_initialized()):
        return free
    least = torch.tensor([free], dtype=torch.int64, device=device)
    dist.all_reduce(least, op=dist.ReduceOp.MIN)
    return int(least.item())


def leave_processes(code: int) -> None:
    """End a process that joined a process group (animate --parallel, train under torch.distributed.run) with
    ``code``, its outputs flushed, without running the C++ destructors: tearing down gloo / FSDP2 state at interpreter
    exit (or in destroy_process_group) now and then aborts the process ("terminate called without an active
    exception") after the work is done and written, which torch.distributed.run then reports as a failure.
    Alone (no process group) this does nothing."""
    import sys

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
