"""What the machine offers: free device memory and host RAM available for pinned buffers."""

from __future__ import annotations

from pathlib import Path

import torch


def free_device_bytes(device: str | torch.device) -> int | None:
    """Free memory of a CUDA device (plus what our own caching allocator holds), None for the CPU."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def available_host_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def is_out_of_memory(error: BaseException) -> bool:
    out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    # CUDA raises OutOfMemoryError; other backends a RuntimeError ("MPS backend out of memory", the CPU allocator's
    # "can't allocate memory"), for which smaller tiles are the same remedy.
    text = str(error)
    return isinstance(error, out_of_memory) or (
        isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
    )


def check_host_memory_for_cpu_run(plan, facts, device) -> None:
    """On the CPU the whole job lives in host RAM: refuse one that cannot fit the RAM available now, with the numbers,
    instead of swapping for hours or being killed (on a GPU the planner's budget does this job)."""
    from ..errors import InputError
    from .sizes import GIB

    if torch.device(device).type != "cpu":
        return
    available = available_host_bytes()
    need = plan.peak_bytes + facts.text_encoder_bytes + facts.clip_bytes + facts.vae_bytes
    if available is not None and need > available:
        raise InputError(
            f"this job needs about {need / GIB:.1f} GiB of RAM on the CPU (model and activations for "
            f"{plan.job.describe()}) but {available / GIB:.1f} GiB are available; use fewer frames or a smaller "
            "max area, or run it on a GPU."
        )


def return_freed_host_memory() -> None:
    """Hand the host memory Python and torch have freed back to the system (glibc keeps freed blocks in its heap, so
    the peak of one stage would otherwise sit under the next: a long clip's sampler state under its decode)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        trim = getattr(libc, "malloc_trim", None)  # glibc only; elsewhere nothing to do
        if trim is not None:
            trim(0)
    except OSError:
        pass
