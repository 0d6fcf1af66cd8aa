"""``animate --root``: a batch folder that survives a bad clip and a rerun that only does what is missing.

Clips whose video already exists are skipped; each remaining clip is checked on its own, so one bad clip (videos of
different lengths, an unreadable image) is reported and the others still run; a clip that fails while running is
reported and the batch goes on. A summary ends the run, and the exit code is 2 when any clip failed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .errors import RealisDanceError


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # the video was already there
    failed: dict[str, str] = field(default_factory=dict)  # clip -> the one-sentence reason

    def summary(self) -> str:
        parts = [f"{len(self.done)} done", f"{len(self.skipped)} skipped (video already there)"]
        if self.failed:
            reasons = "; ".join(f"{name}: {reason}" for name, reason in self.failed.items())
            parts.append(f"{len(self.failed)} failed ({reasons})")
        return "batch: " + ", ".join(parts)


def run_batch(jobs, args, check_job, load_pipeline, run_jobs) -> BatchReport:
    """``check_job(job) -> JobSize`` refuses a bad clip; ``load_pipeline(job_size)`` loads once for the largest
    clip; ``run_jobs(pipeline, [job])`` makes one video."""
    report = BatchReport()
    pending, sizes = [], []
    for job in jobs:
        name = job.ref.stem
        if job.out.exists():
            report.skipped.append(name)
            continue
        try:
            sizes.append(check_job(job))
        except RealisDanceError as error:
            report.failed[name] = str(error)
            continue
        pending.append(job)
    if pending:
        pipeline = load_pipeline(max(sizes, key=lambda size: (size.tokens, size.clip_latent_frames)))
        for job in pending:
            try:
                run_jobs(pipeline, [job])
            except RealisDanceError as error:
                print(f"error in {job.ref.stem}: {error}", file=sys.stderr)
                report.failed[job.ref.stem] = str(error)
                continue
            report.done.append(job.ref.stem)
    print(report.summary())
    return report


def run_workers(jobs, workers: int, argv: list[str], devices: list[str]) -> BatchReport:
    """Share the clips that are not done among ``workers`` processes (round-robin), each running this same command
    on its share (``--clips``) on its own device with its own memory plan; the report comes from the files."""
    import subprocess

    report = BatchReport()
    pending = []
    for job in jobs:
        if job.out.exists():
            report.skipped.append(job.ref.stem)
        else:
            pending.append(job)
    shares = [pending[index::workers] for index in range(workers)]
    processes = []
    for share, device in zip(shares, devices, strict=True):
        if not share:
            continue
        names = ",".join(job.ref.stem for job in share)
        command = [sys.executable, "-m", "realisdance", *argv, "--clips", names, "--workers", "1", "--device", device]
        print(f"worker on {device}: {names}")
        processes.append(subprocess.Popen(command))
    for process in processes:
        process.wait()
    for job in pending:
        if job.out.exists():
            report.done.append(job.ref.stem)
        else:
            report.failed[job.ref.stem] = "see the worker's message above"
    print(report.summary())
    return report
