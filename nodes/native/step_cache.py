"""TeaCache on the native model: the core's TeaCache (the release's algorithm) driven by ComfyUI's sampling state.

A model patch puts a ``NativeTeaCache`` into the MODEL's transformer options. ComfyUI gives each DiT call the full
sigma schedule (``sample_sigmas``), the current sigma (``sigmas``) and which CFG branches the batch holds
(``cond_or_uncond``); from them come the step index (the first 5 steps are always computed, the cutoff is the step
count) and the branch key (one residual per branch, or per cond + uncond batch: both see the same timestep
projection, so the release's per-branch decisions agree). A new sampling run starts a fresh cache.
"""

from __future__ import annotations

import logging

import torch

from realisdance.caching import TeaCache

TRANSFORMER_OPTION = "realisdance_teacache"


class NativeTeaCache:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.cache: TeaCache | None = None
        self.last_step: int | None = None
        self.last_report: str | None = None

    def __deepcopy__(self, memo):  # a cloned MODEL gets its own, empty cache
        return NativeTeaCache(self.threshold)

    def prepare(self, transformer_options: dict) -> TeaCache | None:
        """The cache set to this call's branch and step; None when the call is not part of a sampling run."""
        schedule, current = transformer_options.get("sample_sigmas"), transformer_options.get("sigmas")
        if schedule is None or current is None:
            return None
        schedule = schedule.detach().float().cpu()
        step = int(torch.argmin((schedule[:-1] - float(current.flatten()[0])).abs()))
        if self.cache is None or (step == 0 and self.last_step != 0):
            self.finish()
            self.cache = TeaCache(len(schedule) - 1, self.threshold)
        self.last_step = step
        self.cache.current_step = step
        branches = tuple(transformer_options.get("cond_or_uncond", ()))
        window = transformer_options.get("context_window")  # ComfyUI's context windows: one state per window
        self.cache.current_branch = str(branches) + ("" if window is None else f"/{window.index_list[0]}")
        self.cache.forwards_per_call = max(1, len(branches))  # a cond + uncond batch is two of the release's forwards
        return self.cache

    def finish(self) -> None:
        """Keep the finished run's report and free its residuals."""
        if self.cache is not None and self.cache.computed + self.cache.skipped:
            self.last_report = self.cache.describe()
            logging.info("RealisDance %s", self.last_report)
        if self.cache is not None:
            self.cache.states.clear()
        self.cache = None


def teacache_of(transformer_options: dict) -> NativeTeaCache | None:
    return transformer_options.get(TRANSFORMER_OPTION)


def with_teacache(model, threshold: float):
    """A clone of the RealisDance MODEL ``model`` that runs TeaCache at ``threshold``."""
    patched = model.clone()
    options = patched.model_options.setdefault("transformer_options", {})
    options[TRANSFORMER_OPTION] = NativeTeaCache(threshold)
    return patched
