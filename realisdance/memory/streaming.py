"""Put a loaded DiT on the device as a ``MemoryPlan`` says: resident blocks moved, the others streamed.

Streaming uses diffusers' group offloading (``apply_group_offloading``, block level, one block per group) applied to
a container holding only the streamed blocks, so the resident blocks and the embedders carry no hooks. On CUDA the
copies run on a side stream (``use_stream``, ``record_stream``) from pinned host memory (or pinned on the fly when
the plan found too little RAM), and each streamed block prefetches the next one while it computes; the last
resident block prefetches the first streamed one. On a CPU the same hooks and the same prefetch chain run with
onload = offload = cpu, so tests exercise the exact mechanism and order (only the copies are no-ops).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..model.precision import DTYPES, FP8, cast_keeping_fp32
from .accelerator import HOST, current

_GROUP_HOOK = "group_offloading"  # diffusers.hooks.group_offloading._GROUP_OFFLOADING


@dataclass
class DitPlacement:
    """The state ``place_transformer`` left on a transformer; ``release`` and ``remove`` undo it."""

    transformer: torch.nn.Module
    device: torch.device
    streamed: tuple[int, ...]
    handles: list = field(default_factory=list)  # torch hook handles we registered (prefetch triggers)

    def groups(self) -> list:
        """diffusers' ``ModuleGroup`` of each streamed block, in order."""
        out = []
        for index in self.streamed:
            registry = getattr(self.transformer.blocks[index], "_diffusers_hook", None)
            hook = registry.get_hook(_GROUP_HOOK) if registry is not None else None
            if hook is not None:
                out.append(hook.group)
        return out

    parked: bool = False

    def resident_tensors(self):
        streamed = {f"blocks.{i}." for i in self.streamed}
        for name, tensor in [*self.transformer.named_parameters(), *self.transformer.named_buffers()]:
            if not any(name.startswith(prefix) for prefix in streamed):
                yield tensor

    def park(self) -> None:
        """Move the resident part to the CPU so another stage (encoders, VAE) can use the device."""
        accelerator = current()
        if self.parked or not accelerator.is_accelerator(self.device):
            return
        self.release()
        for tensor in self.resident_tensors():
            tensor.data = accelerator.move(tensor.data, HOST)
        self.parked = True
        accelerator.empty_cache(self.device)

    def unpark(self) -> None:
        """Back on the device before sampling."""
        if not self.parked:
            return
        accelerator = current()
        for tensor in self.resident_tensors():
            tensor.data = accelerator.move(tensor.data, self.device)
        self.parked = False

    def release(self) -> None:
        """Send every streamed block back to host memory (after an error or interrupt mid-forward) and free cache.

        A forward that stops inside block k leaves block k (and the prefetched k+1) on the device, because their
        offload runs only after a block returns.
        """
        for group in self.groups():
            if group.stream is not None:
                group.stream.synchronize()
            params = [p for m in group.modules for p in m.parameters()]
            # On a CPU (onload = offload) the device cannot tell; offloading an offloaded group is harmless.
            if params and (params[0].device != group.offload_device or group.offload_device == group.onload_device):
                group.offload_()
        current().empty_cache(self.device)

    def remove(self, device: str | torch.device = "cpu") -> None:
        """Remove every hook we added and put the whole transformer on ``device``."""
        from diffusers.hooks import HookRegistry

        self.release()
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        for index in self.streamed:
            HookRegistry.check_if_exists_or_initialize(self.transformer.blocks[index]).remove_hook(
                _GROUP_HOOK, recurse=False
            )
        for param in self.transformer.parameters():
            param.data = param.data.to(device)
        for buffer in self.transformer.buffers():
            buffer.data = buffer.data.to(device)
        self.transformer._realisdance_placement = None


def convert_to_fp8(transformer: torch.nn.Module, dtype: str) -> None:
    """Store the block weights in fp8 (compute in bf16), as the loader does for fp8 files, on a loaded model."""
    if any(p.dtype in FP8 for p in transformer.parameters()):
        return
    cast_keeping_fp32(transformer, torch.bfloat16)
    transformer.enable_layerwise_casting(storage_dtype=DTYPES[dtype], compute_dtype=torch.bfloat16)


def place_transformer(transformer: torch.nn.Module, plan, device: str | torch.device) -> DitPlacement:
    """Apply ``plan`` (a ``MemoryPlan``) to a transformer loaded on the CPU (or already on ``device``)."""
    from diffusers.hooks import apply_group_offloading

    device = torch.device(device)
    previous = getattr(transformer, "_realisdance_placement", None)
    if previous is not None:
        previous.remove("cpu")
    if DTYPES[plan.dtype] in FP8:
        convert_to_fp8(transformer, plan.dtype)
    streamed = tuple(plan.streamed_blocks)
    streamed_names = {f"blocks.{i}." for i in streamed}

    def is_streamed(name: str) -> bool:
        return any(name.startswith(prefix) for prefix in streamed_names)

    # Streamed tensors are pinned here one at a time, so the host never holds a pageable and a pinned copy of the
    # streamed blocks at once (diffusers would pin copies of them all before dropping the originals; pinning a
    # pinned tensor is a no-op for it).
    accelerator = current()
    pin = plan.pin_memory and accelerator.is_accelerator(device)
    for name, tensor in [*transformer.named_parameters(), *transformer.named_buffers()]:
        if is_streamed(name):
            host = accelerator.move(tensor.data, HOST)
            tensor.data = accelerator.pin(host) if pin else host
        else:
            tensor.data = accelerator.move(tensor.data, device)
    placement = DitPlacement(transformer, device, streamed)
    transformer._realisdance_placement = placement
    if not streamed:
        return placement

    _require_accelerate()
    container = torch.nn.Module()
    container.blocks = torch.nn.ModuleList([transformer.blocks[i] for i in streamed])
    use_stream = accelerator.side_stream(device)
    apply_group_offloading(
        container,
        onload_device=device,
        offload_device=HOST,
        offload_type="block_level",
        num_blocks_per_group=1,
        use_stream=use_stream,
        record_stream=use_stream,
        low_cpu_mem_usage=not plan.pin_memory,
    )
    # The chain is the same with or without a side stream (without one the prefetch copy is synchronous; on a CPU it is
    # a no-op), so the CPU tests exercise the order a GPU run uses.
    _chain_prefetch(transformer, placement)
    return placement


def _require_accelerate() -> None:
    import importlib.util

    from ..errors import InputError

    # diffusers' group offloading moves hook arguments with accelerate's send_to_device; without it, it fails deep
    # inside the first forward with a NameError.
    if importlib.util.find_spec("accelerate") is None:
        raise InputError(
            "streaming DiT blocks needs the 'accelerate' package: pip install accelerate (or use the 'resident' "
            "memory mode on a GPU with enough memory)"
        )


def _chain_prefetch(transformer, placement: DitPlacement) -> None:
    """Each streamed block prefetches the next; the last resident block (if any) prefetches the first streamed one.

    diffusers builds this chain from a traced first forward of the top-level module; our container is never called
    itself, so the chain is set here from the known block order.
    """
    groups = placement.groups()
    hooks = [transformer.blocks[i]._diffusers_hook.get_hook(_GROUP_HOOK) for i in placement.streamed]
    for hook, next_group in zip(hooks[:-1], groups[1:], strict=True):
        hook.next_group = next_group
        next_group.onload_self = False
    first = placement.streamed[0]
    if first == 0:
        return
    first_group = groups[0]
    first_group.onload_self = False

    def prefetch_first(module, args):
        params = [p for m in first_group.modules for p in m.parameters()]
        if params and params[0].device == first_group.offload_device:
            first_group.onload_()

    placement.handles.append(transformer.blocks[first - 1].register_forward_pre_hook(prefetch_first))
