"""Step caches: skip the DiT's blocks on steps where their output barely changes (``--teacache`` / ``--cache``).

cache = make_step_cache(StepCacheSettings("teacache", 0.2), num_steps=40)
latents = sample(transformer, scheduler, conditions, settings, step_cache=cache)
print(cache.describe())  # TeaCache: skipped 23 of 80 DiT forwards
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from .base import StepCache
from .hooks import FirstBlockCache, MagCache
from .teacache import RELEASE_THRESHOLD, TeaCache

CACHES = {"teacache": TeaCache, "magcache": MagCache, "fbcache": FirstBlockCache}


@dataclass(frozen=True)
class StepCacheSettings:
    kind: str = "teacache"
    threshold: float | None = None  # None: the cache's own default (TeaCache 0.2 as the release)

    def __post_init__(self) -> None:
        if self.kind not in CACHES:
            raise InputError(f"unknown step cache {self.kind!r}; use one of {', '.join(CACHES)}")
        if self.threshold is not None and not (math.isfinite(self.threshold) and self.threshold > 0):
            raise InputError(f"the {self.kind} threshold must be a positive number, got {self.threshold}")


def cached_token_states(settings: StepCacheSettings | None, guidance: float) -> int:
    """Token-sized tensors the cache keeps on the device between forwards (for ``MemoryOptions``)."""
    if settings is None:
        return 0
    return CACHES[settings.kind].states_per_branch * (2 if guidance > 1.0 else 1)


def make_step_cache(settings: StepCacheSettings | None, num_steps: int) -> StepCache | None:
    if settings is None:
        return None
    cls = CACHES[settings.kind]
    if cls is TeaCache:
        return TeaCache(num_steps, RELEASE_THRESHOLD if settings.threshold is None else settings.threshold)
    return cls(num_steps, settings.threshold)


__all__ = [
    "CACHES",
    "FirstBlockCache",
    "MagCache",
    "StepCache",
    "StepCacheSettings",
    "TeaCache",
    "cached_token_states",
    "make_step_cache",
]
