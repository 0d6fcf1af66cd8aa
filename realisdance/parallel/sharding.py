"""Weights sharded over the processes of a sequence-parallel run (FSDP2, ``torch.distributed.fsdp.fully_shard``),
for a DiT that does not fit one device: each process keeps 1/N of every block and of the rest, and a block is
gathered whole only for its own forward (and freed after it).

Sharding composes with the sequence split (``sequence.py``): enable that first, then shard; the result is the one-
process result (tested on 2 gloo processes). ``load_sharded_transformer`` never holds the whole model anywhere: the
model is built on the meta device, split and sharded there, and every process then reads the files one tensor at a
time and keeps its own slice of each (FSDP2's dim-0 chunks), so a process's host memory holds one tensor and its
device 1/N of the weights.
"""

from __future__ import annotations

import torch

from ..errors import InputError


def process_mesh(device_type: str):
    """A one-dimensional device mesh over every process of the default group."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh(device_type, (dist.get_world_size(),))


def shard_weights(model: torch.nn.Module, device_type: str | None = None, mesh=None, reshard_root: bool = True) -> int:
    """Shard ``model``'s blocks and its remaining parameters over the default process group; returns the count.
    ``reshard_root``: the root's own weights (embedders, head) are freed after each forward too (inference); training
    keeps them whole until the backward has used them (FSDP2's default for the root)."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    if isinstance(model, FSDPModule):  # sharded when it was loaded
        return _world_size()
    mesh = mesh or process_mesh(device_type or next(model.parameters()).device.type)
    for block in model.blocks:
        fully_shard(block, mesh=mesh, reshard_after_forward=True)
    fully_shard(model, mesh=mesh, reshard_after_forward=True if reshard_root else None)
    return mesh.size()


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size()


def load_sharded_transformer(path, dtype: str, device: str | torch.device, kind: str | None = "ulysses",
                             patches=None, progress=None, from_plain_wan: bool = False, init_seed: int = 0,
                             training: bool = False) -> torch.nn.Module:  # fmt: skip
    """The transformer of ``path`` with its sequence split (``kind``; None: not split, as fine-tuning runs it) and its
    weights sharded over the processes, each process holding its slices on ``device``. ``patches``
    (``ModelPatches``): the attention kernel; LoRAs are refused before this is reached (``check_shardable``).
    ``from_plain_wan``: the new modules of a plain Wan DiT get the paper's initialisation, drawn from ``init_seed`` as
    the unsharded loader draws them."""
    import copy

    from ..checkpoints.loader import initialised_new_modules, plan_transformer

    device = torch.device(device)
    planned = plan_transformer(path, dtype, from_plain_wan=from_plain_wan)
    model = planned.model
    fresh = {name: copy.deepcopy(getattr(model, name)) for name in planned.fresh_modules}
    if patches is not None:
        from ..pipeline.model_patches import set_attention

        set_attention(model, patches.attention)
    if kind is not None:
        from .sequence import enable_sequence_parallel

        enable_sequence_parallel(model, kind)
    mesh = process_mesh(device.type)
    shard_weights(model, mesh=mesh, reshard_root=not training)
    model.to_empty(device=device)
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in planned.tensors(progress):
            _keep_slice(parameters[name], tensor, mesh)
        if fresh:  # the noise patchifier gathered whole (every process takes part) for the reference patchifier's copy
            patchifier = model.patch_embedding
            weight, bias = patchifier.weight.full_tensor(), patchifier.bias.full_tensor()
            for name, tensor in initialised_new_modules(fresh, weight, bias, init_seed).items():
                _keep_slice(parameters[name], tensor, mesh)
    return model.eval()


def _keep_slice(parameter, tensor: torch.Tensor, mesh) -> None:
    from torch.distributed.tensor import distribute_tensor

    # src_data_rank=None: every process holds the same tensor, so each cuts its own slice (no communication)
    parameter.copy_(distribute_tensor(tensor.to(parameter.device), mesh, parameter.placements, src_data_rank=None))


def check_shardable(patches, mode: str, dtype: str | None) -> None:
    """What --shard-weights does not combine with, said before anything loads."""
    from ..model.precision import DTYPES, FP8

    if patches is not None and patches.loras:
        raise InputError(
            "--shard-weights does not take LoRAs yet (a LoRA is merged into whole weights, which a sharded load never "
            "holds); run without --shard-weights (the weights replicated in each process)"
        )
    if patches is not None and patches.compile_backend is not None:
        raise InputError("--shard-weights does not combine with --compile yet; leave one of them out")
    if mode not in ("auto", "resident"):
        raise InputError(
            f"--shard-weights keeps 1/N of every block on each device; --memory {mode} (streaming / fp8 storage) "
            "does not combine with it: use --memory auto, or more processes if the shards do not fit"
        )
    if dtype is not None and dtype in DTYPES and DTYPES[dtype] in FP8:
        raise InputError(f"--shard-weights shards weights in bf16, fp16 or fp32, not {dtype}; pick one of those")
