"""Memory planning for a transformer that is already loaded (the ComfyUI sampler's case).

The command line plans before loading; a node graph loads the DiT into host memory first and learns the job size
only at the sampler. So the sampler plans from the loaded model's config and storage precision, the conditions'
size and the device's free memory, places the model for sampling, and undoes the placement afterwards (or after an
error or Cancel) unless the user asked to keep it on the device.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..model_handle import storage_dtype_name
from .planner import MemoryOptions, MemoryPlan, ModelFacts, plan_memory
from .sizes import JobSize
from .streaming import DitPlacement, place_transformer


def loaded_facts(transformer: torch.nn.Module) -> ModelFacts:
    """The planner's view of a loaded DiT. Encoders are not counted: the nodes run them in their own stages."""
    return ModelFacts(config=dict(transformer.config), dtype=storage_dtype_name(transformer))


def current_placement(transformer: torch.nn.Module) -> DitPlacement | None:
    return getattr(transformer, "_realisdance_placement", None)


def placement_device_bytes(placement: DitPlacement | None) -> int:
    """Device bytes a kept placement holds (they become free again when it is replaced); 0 on a CPU."""
    if placement is None or placement.device.type == "cpu" or placement.parked:
        return 0
    return sum(t.nbytes for t in placement.resident_tensors() if t.device.type == placement.device.type)


def room_to_request(transformer: torch.nn.Module, job: JobSize, options: MemoryOptions) -> int:
    """Device bytes worth asking other models to give up: the fastest plan's peak plus headroom, capped at the
    budget the user set (asking for more than we may use would only evict their models for nothing)."""
    fastest = plan_memory(loaded_facts(transformer), job, MemoryOptions(mode=options.mode), None)
    wanted = fastest.peak_bytes + options.headroom(fastest.peak_bytes)
    return wanted if options.budget_bytes is None else min(wanted, options.budget_bytes)


def plan_for_loaded(
    transformer: torch.nn.Module, job: JobSize, options: MemoryOptions, free_bytes: int | None
) -> MemoryPlan:
    """The planner's plan for this loaded model; raises its refusal (an InputError) before anything moves.

    ``free_bytes``: the device's free memory (None on a CPU: no limit). What our own kept placement holds counts
    as free, since placing again releases it first.
    """
    if free_bytes is not None:
        free_bytes += placement_device_bytes(current_placement(transformer))
    return plan_memory(loaded_facts(transformer), job, options, free_bytes)


def _matches(placement: DitPlacement | None, plan: MemoryPlan, device: torch.device) -> bool:
    return (
        placement is not None
        and placement.device == device
        and placement.streamed == tuple(plan.streamed_blocks)
        and storage_dtype_name(placement.transformer) == plan.dtype
    )


@contextmanager
def placed_for_sampling(
    transformer: torch.nn.Module,
    plan: MemoryPlan,
    device: str | torch.device,
    keep_on_device: bool = False,
    offload_device: str | torch.device = "cpu",
) -> Iterator[DitPlacement]:
    """The transformer placed as ``plan`` says for the block (a kept placement of the same plan is reused).

    On leaving, every hook is removed and all weights go to ``offload_device``, unless ``keep_on_device`` and the
    block ended normally: after an error or an interrupt (which may stop inside a streamed block) nothing is left
    on the device and the model is a plain module again, so the next run starts clean.
    """
    device = torch.device(device)
    placement = current_placement(transformer)
    if _matches(placement, plan, device):
        placement.unpark()
    else:
        placement = place_transformer(transformer, plan, device)
    try:
        yield placement
    except BaseException:
        placement.remove(offload_device)
        raise
    if not keep_on_device:
        placement.remove(offload_device)
