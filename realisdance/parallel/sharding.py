"""Weights sharded over the processes of a sequence-parallel run (FSDP2, ``torch.distributed.fsdp.fully_shard``),
for a DiT that does not fit one device: each process keeps 1/N of every block and of the rest, and a block is
gathered whole only for its own forward (and freed after it).

Sharding composes with the sequence split (``sequence.py``): enable that first, then shard; the result is the one-
process result (tested on 2 gloo processes). Not yet wired to ``animate`` (the loader places the whole model on each
device first; loading shard by shard is the next step).
"""

from __future__ import annotations

import torch


def shard_weights(model: torch.nn.Module, device_type: str | None = None) -> int:
    """Shard ``model``'s blocks and its remaining parameters over the default process group; returns the count."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    device_type = device_type or next(model.parameters()).device.type
    mesh = init_device_mesh(device_type, (dist.get_world_size(),))
    for block in model.blocks:
        fully_shard(block, mesh=mesh, reshard_after_forward=True)
    fully_shard(model, mesh=mesh)
    return dist.get_world_size()
