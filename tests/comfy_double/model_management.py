"""Double of ``comfy.model_management``: CPU device, memory calls recorded, the interrupt flag.

Memory: by default the device is a CPU (``is_device_cpu`` true, so our nodes plan without a limit). A test may
``simulate_device_memory(free, held_by_host_models)``: the (still CPU) compute device then reports itself as an
accelerator with ``free`` bytes free, and ``free_memory`` / ``unload_all_models`` turn up to
``held_by_host_models`` more bytes free, as the host does by unloading its own models.
"""

from __future__ import annotations

import torch

interrupt_processing = False
calls: list[str] = []  # names of the memory functions called, in order, for tests
free_memory_requests: list[int] = []  # the bytes asked of free_memory, in order
simulated_free: int | None = None  # None: the device is a CPU
simulated_held = 0  # bytes the host's own models hold on the simulated device


class InterruptProcessingException(Exception):
    pass


def reset() -> None:
    global interrupt_processing, simulated_free, simulated_held
    interrupt_processing = False
    simulated_free, simulated_held = None, 0
    calls.clear()
    free_memory_requests.clear()


def simulate_device_memory(free: int | None, held_by_host_models: int = 0) -> None:
    global simulated_free, simulated_held
    simulated_free, simulated_held = free, held_by_host_models


def get_torch_device() -> torch.device:
    return torch.device("cpu")


def intermediate_device() -> torch.device:
    return torch.device("cpu")


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


def is_device_cpu(device) -> bool:
    return simulated_free is None and torch.device(device).type == "cpu"


def get_free_memory(dev=None, torch_free_too: bool = False):
    free = simulated_free if simulated_free is not None else 64 * 1024**3  # the host reports RAM for a CPU
    return (free, 0) if torch_free_too else free


def free_memory(memory_required, device, keep_loaded=()) -> list:
    """Unload host models until ``memory_required`` bytes are free (as far as they hold any)."""
    global simulated_free, simulated_held
    calls.append("free_memory")
    free_memory_requests.append(int(memory_required))
    if simulated_free is not None and simulated_free < memory_required:
        released = min(simulated_held, int(memory_required) - simulated_free)
        simulated_free, simulated_held = simulated_free + released, simulated_held - released
    return []


def unload_all_models() -> None:
    global simulated_free, simulated_held
    calls.append("unload_all_models")
    if simulated_free is not None:
        simulated_free, simulated_held = simulated_free + simulated_held, 0


def soft_empty_cache(force: bool = False) -> None:
    calls.append("soft_empty_cache")


def interrupt_current_processing(value: bool = True) -> None:
    global interrupt_processing
    interrupt_processing = value


def processing_interrupted() -> bool:
    return interrupt_processing


def throw_exception_if_processing_interrupted() -> None:
    global interrupt_processing
    if interrupt_processing:
        interrupt_processing = False
        raise InterruptProcessingException()
