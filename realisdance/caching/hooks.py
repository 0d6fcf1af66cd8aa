"""Step caches from diffusers' hooks (``diffusers.hooks``): MagCache and First Block Cache.

diffusers registers its own ``WanTransformerBlock`` (our blocks), keeps one state per cache context, and is applied
through the model's ``enable_cache`` / ``disable_cache`` (``CacheMixin``, inherited from ``WanTransformer3DModel``);
the sampler's branch names are the contexts. Skipped forwards are counted by a hook on the last block's FFN, which
runs only when the blocks really run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .base import StepCache

# MagCache's calibration for Wan 2.1 I2V 14B 720P (the release's base model), 40 steps: the magnitude ratio of
# consecutive steps' block residuals, conditional branch (the published list interleaves cond / uncond, which
# differ only in the fourth decimal). diffusers interpolates it to other step counts.
WAN21_I2V_720P_MAG_RATIOS = (
    1.0, 0.99428, 0.98588, 0.98273, 0.99018, 0.98911, 0.98646, 0.99454, 0.9891, 0.99124,
    0.99102, 0.99215, 0.99515, 0.99576, 0.99068, 0.99097, 0.99166, 0.99041, 0.99201, 0.99101,
    0.98599, 0.98845, 0.98848, 0.98862, 0.98718, 0.98497, 0.98264, 0.98389, 0.97938, 0.97535,
    0.97498, 0.973, 0.96827, 0.96261, 0.95335, 0.94649, 0.93397, 0.91636, 0.89088, 0.8679,
)  # fmt: skip
# MagCache's settings for Wan 2.1 I2V 14B (its README): error threshold 0.24, at most 6 skips in a row, the first
# 20 % of the steps always computed.
MAGCACHE_DEFAULTS = {"threshold": 0.24, "max_skip_steps": 6, "retention_ratio": 0.2}
FIRST_BLOCK_CACHE_THRESHOLD = 0.05  # diffusers' default


class _DiffusersHookCache(StepCache):
    def __init__(self, num_steps: int) -> None:
        super().__init__(num_steps)
        self._transformer = None
        self._counter = None
        self._calls = 0

    def config(self):
        raise NotImplementedError

    def attach(self, transformer: torch.nn.Module) -> None:
        transformer.enable_cache(self.config())
        self._transformer = transformer

        def count(module, args):
            self._calls += 1

        self._counter = transformer.blocks[-1].ffn.register_forward_pre_hook(count)

    def detach(self, transformer: torch.nn.Module) -> None:
        if self._counter is not None:
            self._counter.remove()
            self._counter = None
        transformer.disable_cache()
        self._transformer = None

    @contextmanager
    def branch(self, name: str, step: int) -> Iterator[None]:
        self.current_branch, self.current_step = name, step
        before = self._calls
        with self._transformer.cache_context(name):
            yield
        if self._calls > before:
            self.computed += 1
        else:
            self.skipped += 1


class MagCache(_DiffusersHookCache):
    name = "MagCache"

    def __init__(self, num_steps: int, threshold: float | None = None, ratios=WAN21_I2V_720P_MAG_RATIOS) -> None:
        super().__init__(num_steps)
        self.threshold = MAGCACHE_DEFAULTS["threshold"] if threshold is None else threshold
        self.ratios = tuple(ratios)

    def config(self):
        from diffusers.hooks import MagCacheConfig

        return MagCacheConfig(
            threshold=self.threshold,
            max_skip_steps=MAGCACHE_DEFAULTS["max_skip_steps"],
            retention_ratio=MAGCACHE_DEFAULTS["retention_ratio"],
            num_inference_steps=self.num_steps,
            mag_ratios=list(self.ratios),
        )


class FirstBlockCache(_DiffusersHookCache):
    name = "First Block Cache"
    states_per_branch = 2  # the first block's residual and the residual of the rest

    def __init__(self, num_steps: int, threshold: float | None = None) -> None:
        super().__init__(num_steps)
        self.threshold = FIRST_BLOCK_CACHE_THRESHOLD if threshold is None else threshold

    def config(self):
        from diffusers.hooks import FirstBlockCacheConfig

        return FirstBlockCacheConfig(threshold=self.threshold)
