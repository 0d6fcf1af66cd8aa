"""Saving and resuming a fine-tuning run: one file, or per-process shards when the weights are sharded.

``checkpoint.pt`` always holds the run's position (step, data order, generator, settings). Unsharded runs (one process
or DDP, every process holding the whole model) keep the trained parameters and the optimiser in it too, written by
the first process. Sharded runs (FSDP2, ``--shard-weights``) write them with torch.distributed.checkpoint: each process
saves its own slices into ``checkpoint-<step>.dcp/`` (nothing is gathered whole; a full 14B fine-tuning's optimiser
alone is 112 GB), and ``checkpoint.pt`` names the folder once every process has finished, so an interrupted save
leaves the previous checkpoint in place. A sharded checkpoint resumes on any number of processes (DCP reshards).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from ..errors import InputError
from ..unpickling import torch_load_plain
from .parts import trainable_state

CHECKPOINT = "checkpoint.pt"
FORMAT = "realisdance-training-checkpoint"


def _save_file(path: Path, record: dict) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    torch.save(record, temporary)
    os.replace(temporary, path)


def _trained(model) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _sharded_state(model, optimizer) -> dict:
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return {"trainable": _trained(model), "optimizer": get_optimizer_state_dict(model, optimizer)}


def save_checkpoint(run_dir: Path, model, optimizer, position: dict, sharded: bool, rank: int) -> None:
    """Every process calls this when sharded (each writes its slices); otherwise the first process alone."""
    path = run_dir / CHECKPOINT
    if not sharded:
        _save_file(path, {"format": FORMAT, "version": 1, **position, "trainable": trainable_state(model),
                          "optimizer": optimizer.state_dict()})  # fmt: skip
        return
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp

    folder = run_dir / f"checkpoint-{position['state']['step']}.dcp"
    dcp.save(_sharded_state(model, optimizer), checkpoint_id=str(folder))
    dist.barrier()  # every slice is on disk before the checkpoint names the folder
    if rank == 0:
        previous = _shard_folder(run_dir)
        _save_file(path, {"format": FORMAT, "version": 1, **position, "shards": folder.name})
        if previous is not None and previous != folder:
            shutil.rmtree(previous, ignore_errors=True)
    dist.barrier()


def _shard_folder(run_dir: Path) -> Path | None:
    record = read_checkpoint(run_dir)
    return run_dir / record["shards"] if record is not None and record.get("shards") else None


def read_checkpoint(run_dir: Path) -> dict | None:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    record = torch_load_plain(path, "training checkpoint")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(f"{path} is not a training checkpoint; use another --run-dir")
    return record


def restore(record: dict, run_dir: Path, model, optimizer, sharded: bool) -> None:
    """The trained parameters and the optimiser of ``record`` into ``model`` / ``optimizer``."""
    path = run_dir / CHECKPOINT  # sharded or not is one of the settings the caller has already matched
    if sharded:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        folder = run_dir / record["shards"]
        if not folder.is_dir():
            raise InputError(f"{path} names {folder}, which is missing; start a new run in another --run-dir")
        state = _sharded_state(model, optimizer)
        dcp.load(state, checkpoint_id=str(folder))  # in place, into this process's slices
        set_optimizer_state_dict(model, optimizer, state["optimizer"])
        return
    missing = set(record["trainable"]) ^ set(_trained(model))
    if missing:
        raise InputError(f"{path} trained other parameters than this model has ({sorted(missing)[:3]}...)")
    with torch.no_grad():
        parameters = dict(model.named_parameters())
        for name, value in record["trainable"].items():
            parameters[name].copy_(value)
    optimizer.load_state_dict(record["optimizer"])
