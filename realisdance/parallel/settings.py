"""How one clip runs on the processes ``torch.distributed.run`` started (``animate --parallel``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

KINDS = ("none", "ulysses")


@dataclass(frozen=True)
class ParallelRun:
    kind: str = "none"  # ulysses: the DiT's token sequence split over the processes
    shard_weights: bool = False  # FSDP2: each process keeps 1/N of the weights (a DiT too large for one device)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"--parallel is one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.shard_weights and self.kind == "none":
            raise InputError("--shard-weights shares the weights of a --parallel run: add --parallel ulysses")

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def processes(self) -> int:
        from .processes import launched_processes

        return launched_processes() if self.active else 1

    def memory_split(self) -> dict:
        """The ``MemoryOptions`` fields of this run: the share of the sequence and of the weights per process."""
        count = self.processes()
        return {"sequence_parallel": count, "weight_shards": count if self.shard_weights else 1}
