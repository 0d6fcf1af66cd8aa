"""What a long sampling has finished, kept on disk so an interrupted run goes on where it stopped (issue 14).

A 481-frame clip of the 14B model samples for an hour or more; a crash, an out-of-memory or a Ctrl-C near the end
must not cost all of it. The sampler saves its state (latents, the scheduler's multistep history, how far it got)
at points where resuming gives exactly the video an uninterrupted run gives: after each finished window of the
continuation scheme, and after a step of the averaged scheme (at most once per ``interval_s``, a save of the whole
clip's state takes a moment). A rerun of the same job finds the file, checks that it belongs to the same job (the
fingerprint of the conditions, the noise and the settings), and resumes; anything else starts afresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import uuid
from pathlib import Path

import torch

from ..errors import InputError
from ..unpickling import torch_load_plain

PROGRESS_SUFFIX = ".progress.pt"
PROGRESS_FORMAT = "realisdance-sampling-progress"


def progress_path_for(out: Path) -> Path:
    return out.with_name(out.name + PROGRESS_SUFFIX)


def _plain(value) -> bool:
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return True
    return isinstance(value, list | tuple) and all(_plain(item) for item in value)


def scheduler_state(scheduler) -> dict:
    """The scheduler's moving parts (step index, multistep history, last sample...) as plain data; its config is
    fixed by the job and rebuilt, not saved."""
    items = vars(scheduler).items()
    return {name: value for name, value in items if not name.startswith("_internal") and _plain(value)}


def restore_scheduler(scheduler, state: dict) -> None:
    for name, value in state.items():
        setattr(scheduler, name, list(value) if isinstance(value, tuple) else value)


def _digest_tensor(digest, tensor: torch.Tensor | None) -> None:
    if tensor is None:
        digest.update(b"none")
        return
    flat = tensor.detach().to("cpu").contiguous()
    digest.update(f"{flat.dtype}{tuple(flat.shape)}".encode())
    if flat.numel():
        digest.update(flat.view(torch.uint8).numpy())  # the buffer itself: no copy of a clip-sized tensor


def job_fingerprint(conditions, settings, scheduler, *tensors) -> str:
    """A hash of everything that decides the sampled latents: the conditions, the sampler settings, the scheduler's
    class and config, and any starting tensors (noise, init latents) given."""
    digest = hashlib.sha256()
    digest.update(repr(dataclasses.asdict(settings)).encode())
    digest.update(type(scheduler).__name__.encode())
    digest.update(repr(sorted(dict(scheduler.config).items())).encode())
    for tensor in (conditions.pose, conditions.image_condition, *tensors):
        _digest_tensor(digest, tensor)
    for branch in (conditions.positive, conditions.negative):
        for tensor in (branch.text, branch.clip, branch.reference):
            _digest_tensor(digest, tensor)
    return digest.hexdigest()


class SamplingProgress:
    """The progress file of one job: ``resume`` what a previous run of it saved, ``save`` as sampling goes."""

    def __init__(self, path: str | os.PathLike, interval_s: float = 60.0, say=print, writer: bool = True) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self.say = say
        self.writer = writer  # one clip on several processes: all resume from the file, the first one writes it
        self._last_save = time.monotonic()

    def resume(self, fingerprint: str) -> dict | None:
        """The saved state when the file belongs to this job; None (and the file left to be replaced) otherwise."""
        if not self.path.is_file():
            return None
        try:
            record = torch_load_plain(self.path, "sampling progress")
        except InputError as error:
            self.say(f"not resuming: {error}")
            return None
        if not isinstance(record, dict) or record.get("format") != PROGRESS_FORMAT:
            self.say(f"not resuming: {self.path} is not a sampling progress file")
            return None
        if record.get("fingerprint") != fingerprint:
            self.say(f"not resuming from {self.path}: it belongs to another job (other inputs or settings)")
            return None
        return record["state"]

    def due(self) -> bool:
        return time.monotonic() - self._last_save >= self.interval_s

    def save(self, fingerprint: str, state: dict) -> None:
        """Write atomically (never a half-written file under the real name)."""
        if not self.writer:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.partial")
        record = {"format": PROGRESS_FORMAT, "version": 1, "fingerprint": fingerprint, "state": state}
        try:
            torch.save(record, temporary)
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        self._last_save = time.monotonic()

    def clear(self) -> None:
        if self.writer:
            self.path.unlink(missing_ok=True)
