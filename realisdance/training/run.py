"""The fine-tuning loop: AdamW on the chosen parts, gradient accumulation to large batches, the paper's timesteps and
dropout, resumable checkpoints, a loss CSV and curve.

One optimiser step takes ``batch`` clips (one forward each: clips differ in size, so a large batch is reached by
accumulating gradients, the paper's "large batch"); the loss is their mean. Everything random (data order, timesteps,
noise, dropout) comes from one generator whose state is in the checkpoint with the step, the position in the data
order, the trained parameters and the optimiser, so a resumed run continues exactly where the interrupted one was.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InputError
from .checkpointing import CHECKPOINT, read_checkpoint, restore, save_checkpoint
from .data import load_sample
from .logs import LossLog
from .objective import Dropout, flow_matching_loss
from .parts import TrainableParts, select_trainable
from .timesteps import TimestepSchedule


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 1000  # optimiser steps
    batch: int = 8  # clips per optimiser step (gradient accumulation)
    learning_rate: float = 1e-5  # the paper's AdamW rate
    weight_decay: float = 0.0
    parts: TrainableParts = field(default_factory=TrainableParts)
    timesteps: TimestepSchedule = field(default_factory=TimestepSchedule)
    dropout: Dropout = field(default_factory=Dropout)
    seed: int = 0
    save_every: int = 100  # steps between checkpoints (and one at the end)
    gradient_checkpointing: bool = False
    autocast_bf16: bool = False  # bf16 compute on fp32 master weights (CUDA)
    shard_weights: bool = False  # FSDP2 over the processes: weights, gradients and optimiser 1/N each

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "save_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name.replace('_', ' ')} must be a whole number >= 1; got {value!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise InputError(f"the learning rate must be a positive number; got {self.learning_rate}")
        for name in ("reference", "prompt"):
            rate = getattr(self.dropout, name)
            if not 0.0 <= rate <= 1.0:
                raise InputError(f"the {name} dropout must be in [0, 1]; got {rate}")
        if self.shard_weights and self.parts.strategy == "lora":
            raise InputError("LoRA training keeps the base frozen and small adapters: it needs no --shard-weights "
                             "(several processes share the batch without it)")  # fmt: skip

    def fingerprint(self) -> dict:
        """What a resumed run must share with the one that saved the checkpoint (everything but the step count)."""
        values = dataclasses.asdict(self)
        values.pop("steps")
        values.pop("save_every")
        return values


@dataclass
class RunState:
    step: int = 0
    epoch: int = 0
    position: int = 0  # next index in this epoch's order


def _order(count: int, seed: int, epoch: int) -> list[int]:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()


def train(model: torch.nn.Module, samples: list[Path], run_dir: str | Path, settings: TrainSettings, say=print,
          progress=None) -> RunState:  # fmt: skip
    """Fine-tune ``model`` (in place) on the cached ``samples``; resumes from ``run_dir``'s checkpoint when there is
    one of the same settings. ``progress(step, total, loss)`` is called after every optimiser step."""
    if not samples:
        raise InputError("no training clips")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    trained = select_trainable(model, settings.parts, settings.seed)
    if settings.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    device = next(model.parameters()).device
    rank, world = _world()
    if settings.batch % world:
        raise InputError(f"the batch ({settings.batch} clips) must be a multiple of the {world} processes")
    if settings.shard_weights and world == 1:
        raise InputError("--shard-weights shares the weights between processes: launch with python -m "
                         "torch.distributed.run --nproc-per-node N (one per GPU)")  # fmt: skip
    worker = model
    if settings.shard_weights:  # FSDP2: before the optimiser, which then holds this process's slices only
        from ..parallel.sharding import process_mesh, shard_weights

        shard_weights(model, mesh=process_mesh(device.type))
    elif world > 1:  # torch.distributed.run: every process takes its share of each batch; DDP averages gradients
        worker = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    state = RunState()
    record = read_checkpoint(run_dir)
    if record is not None:
        state = _resume(record, run_dir, model, optimizer, generator, settings, say)
    log = LossLog(run_dir)
    count = sum(p.numel() for p in parameters)  # a sharded parameter (DTensor) counts its whole size
    say(f"training {settings.parts.strategy}: {len(trained)} tensors, {count:,} parameters; {len(samples)} clips, "
        f"{settings.batch} per step; timesteps {settings.timesteps.kind}")  # fmt: skip
    model.train()
    order = _order(len(samples), settings.seed, state.epoch)
    while state.step < settings.steps:
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        losses, times = [], []
        mine = [index for index in range(settings.batch) if index % world == rank]
        for index in range(settings.batch):
            if state.position >= len(order):
                state.epoch, state.position = state.epoch + 1, 0
                order = _order(len(samples), settings.seed, state.epoch)
            path = samples[order[state.position]]
            state.position += 1
            # Every process draws every clip's randomness in the same order (same generator state everywhere) and
            # uses its own clips' draws: the run is the same whatever the number of processes.
            timestep = settings.timesteps.sample(1, state.step, generator)
            noise_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            drops = torch.rand(2, generator=generator)
            if index not in mine:
                continue
            sample = load_sample(path)
            noise = torch.randn(sample.target.shape, generator=torch.Generator().manual_seed(noise_seed))
            last = index == mine[-1]
            with _synchronised(worker, last), torch.autocast(device.type, dtype=torch.bfloat16,
                                                             enabled=settings.autocast_bf16):  # fmt: skip
                loss = flow_matching_loss(worker, sample, timestep, noise, bool(drops[0] < settings.dropout.reference),
                                          bool(drops[1] < settings.dropout.prompt))  # fmt: skip
                (loss / len(mine)).backward()  # DDP then averages over processes: the mean over the whole batch
            losses.append(float(loss.detach()))
            times.append(float(timestep))
        optimizer.step()
        state.step += 1
        mean, mean_time = _batch_means(losses, times, world, device)
        if not math.isfinite(mean):
            raise InputError(f"the loss became {mean} at step {state.step}; lower the learning rate or check the data")
        if rank == 0:
            log.add(state.step, mean, mean_time, time.perf_counter() - started)
        if progress is not None:
            progress(state.step, settings.steps, mean)
        if state.step % settings.save_every == 0 or state.step == settings.steps:
            position = {"settings": settings.fingerprint(), "state": dataclasses.asdict(state),
                        "generator": generator.get_state()}  # fmt: skip
            if settings.shard_weights or rank == 0:
                save_checkpoint(run_dir, model, optimizer, position, settings.shard_weights, rank)
            if rank == 0:
                log.plot()
    model.eval()
    return state


def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _synchronised(worker, last: bool):
    """DDP all-reduces gradients on the last backward of a step only (the others accumulate locally). A model sharded
    by FSDP2 reduce-scatters after every backward instead: skipping it would keep every block's gradients whole in
    each process until the last clip, which is what sharding is there to avoid; its 1/N slices accumulate."""
    from contextlib import nullcontext

    no_sync = getattr(worker, "no_sync", None)
    return nullcontext() if last or no_sync is None else no_sync()


def _batch_means(losses: list[float], times: list[float], world: int, device) -> tuple[float, float]:
    """The step's mean loss and timestep over every process's clips."""
    totals = torch.tensor([sum(losses), sum(times), len(losses)], dtype=torch.float64)
    if world > 1:
        import torch.distributed as dist

        totals = totals.to(device)
        dist.all_reduce(totals)
        totals = totals.cpu()
    return float(totals[0] / totals[2]), float(totals[1] / totals[2])


def _resume(record: dict, run_dir: Path, model, optimizer, generator, settings: TrainSettings, say) -> RunState:
    if record["settings"] != settings.fingerprint():
        raise InputError(
            f"{run_dir / CHECKPOINT} was saved by a run with other settings; resume with the same settings (only "
            "--steps may change) or start a new run in another --run-dir"
        )
    restore(record, run_dir, model, optimizer, settings.shard_weights)
    generator.set_state(record["generator"])
    state = RunState(**record["state"])
    say(f"resuming from {run_dir / CHECKPOINT} at step {state.step}")
    return state
