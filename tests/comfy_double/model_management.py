"""Double of ``comfy.model_management``: CPU device, memory calls recorded, the interrupt flag."""

from __future__ import annotations

import torch

interrupt_processing = False
calls: list[str] = []  # names of the memory functions called, in order, for tests


class InterruptProcessingException(Exception):
    pass


def reset() -> None:
    global interrupt_processing
    interrupt_processing = False
    calls.clear()


def get_torch_device() -> torch.device:
    return torch.device("cpu")


def intermediate_device() -> torch.device:
    return torch.device("cpu")


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


def unload_all_models() -> None:
    calls.append("unload_all_models")


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
