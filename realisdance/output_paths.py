"""Where a run writes: checked before any model loads, so a finished sampling is never lost to a bad output path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError
from .latents_file import LATENTS_SUFFIX, latents_path_for, load_latents


def check_output(out: Path) -> None:
    """The video and its latents can be written there: checked before any model loads, so a finished sampling is
    never lost to a bad --out."""
    if out.suffix.lower() != ".mp4":
        raise InputError(f"--out {out} must end in .mp4 (the video is H.264 in an MP4 container).")
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as {out / 'dance.mp4'}.")
    folder = out.parent if str(out.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write {out}: {folder} is a file, not a folder; choose another --out.")
    try:
        folder.mkdir(parents=True, exist_ok=True)  # e.g. outputs/ on a fresh checkout
        probe, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=folder)
        os.close(probe)
        os.unlink(name)
    except OSError as error:
        raise InputError(f"cannot write into {folder} ({error.strerror or error}); choose another --out.") from None


LOCK_SUFFIX = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _partials(out: Path) -> list[Path]:
    """Hidden partial files a killed run may have left for ``out`` or its latents (``.<out>.<id>.partial`` and
    ``.<out>.latents.pt.<id>.partial``, see the atomic writers): one pattern matches both."""
    return sorted(out.parent.glob(f".{out.name}.*.partial"))


class OutputClaim:
    """One run's hold on ``out``: a lock file, so two runs never interleave the video of one with the latents of the
    other, and a clean-up of what killed runs left: stale locks, partial videos, and partial latents files (a
    complete one is recovered under the latents name when none is there, and said so)."""

    def __init__(self, out: Path, say=print):
        self.out = Path(out)
        self.lock = self.out.with_name(f".{self.out.name}{LOCK_SUFFIX}")
        self.say = say

    def __enter__(self) -> OutputClaim:
        self._take_lock()
        self._clean_leftovers()
        return self

    def __exit__(self, *exc) -> None:
        self.lock.unlink(missing_ok=True)

    def _take_lock(self) -> None:
        for _ in range(2):
            try:
                handle = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise InputError(
                        f"another run (process {pid}) is writing {self.out}; wait for it to finish or choose another "
                        "--out."
                    ) from None
                self.lock.unlink(missing_ok=True)  # left by a killed run
                continue
            with os.fdopen(handle, "w") as lock:
                lock.write(str(os.getpid()))
            return
        raise InputError(f"cannot lock {self.out} for writing ({self.lock} keeps reappearing); retry.")

    def _clean_leftovers(self) -> None:
        latents = latents_path_for(self.out)
        for partial in _partials(self.out):
            if LATENTS_SUFFIX in partial.name and not latents.exists():
                try:
                    load_latents(partial)
                except Exception:  # noqa: BLE001 (any damage: it is not a complete latents file)
                    pass
                else:
                    os.replace(partial, latents)
                    self.say(f"recovered the latents a killed run left for {self.out}: {latents}")
                    continue
            partial.unlink(missing_ok=True)
