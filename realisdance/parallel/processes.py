"""Joining the processes ``torch.distributed.run`` starts: one per GPU (NCCL), or CPU processes on gloo."""

from __future__ import annotations

import os


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
        dist.init_process_group("nccl" if cuda else "gloo")
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
