"""Step caches on the tiny model: TeaCache against an independent implementation written from the spec (3.5), and
the diffusers-hook caches skip forwards, count them, and leave the model clean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realisdance.caching import FirstBlockCache, MagCache, StepCacheSettings, TeaCache, make_step_cache
from realisdance.encoders.scheduler import WAN21_I2V_SCHEDULER_CONFIG, load_scheduler
from realisdance.errors import InputError
from realisdance.pipeline.conditions import Branch, Conditions, ModelSignature
from realisdance.pipeline.sampling import SamplerSettings, sample

# Spec 3.5, written down again here rather than imported: highest power first, on the timestep projection.
SPEC_POLYNOMIAL = [8.10705460e03, 2.13393892e03, -3.72934672e02, 1.66203073e01, -4.17769401e-02]
SPEC_ALWAYS_COMPUTED = 5


def tiny_conditions(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    signature = ModelSignature.of(model)
    clip = torch.randn(1, 257, model.config.image_dim, generator=g) if model.config.image_dim else None
    reference = torch.randn(1, 16, 1, 4, 6, generator=g)
    positive = Branch(torch.randn(1, 512, 32, generator=g), clip, reference)
    negative = Branch(torch.zeros(1, 512, 32), None if clip is None else torch.zeros_like(clip), reference * 0)
    pose = torch.randn(1, model.config.add_cond_in_dim, 2, 4, 6, generator=g)
    image = torch.randn(1, 20, 2, 4, 6, generator=g) if signature.is_i2v else None
    return Conditions(pose, image, positive, negative, signature, 5, 32, 48)


def scheduler():
    return load_scheduler(dict(WAN21_I2V_SCHEDULER_CONFIG), "unipc")


class _AddResidual(torch.nn.Module):
    """Stands in for all blocks on a skipped forward of the reference: tokens + the branch's cached residual."""

    def __init__(self, residual):
        super().__init__()
        self.residual = residual

    def forward(self, hidden, *args):
        return hidden + self.residual


class ReferenceTeaCache:
    """TeaCache from the spec alone, through hooks on an unmodified model: calls alternate cond / uncond (CFG 2),
    so call n is branch n % 2 at step n // 2; the residual is captured around the original blocks."""

    def __init__(self, model, threshold, steps):
        self.model, self.threshold, self.steps = model, threshold, steps
        self.blocks = model.blocks
        self.state = {0: [0.0, None, None], 1: [0.0, None, None]}  # accumulated, previous indicator, residual
        self.calls = 0
        self.decisions = []
        self.handles = [
            model.condition_embedder.register_forward_hook(self.decide),
            self.blocks[0].register_forward_pre_hook(self.keep_input),
            self.blocks[-1].register_forward_hook(self.keep_residual),
            model.register_forward_hook(self.restore),
        ]

    def decide(self, module, args, out):
        branch, step = self.calls % 2, self.calls // 2
        state = self.state[branch]
        e0 = out[1].unflatten(1, (6, -1))
        if state[1] is None or state[2] is None or step < SPEC_ALWAYS_COMPUTED or step >= self.steps:
            compute, state[0] = True, 0.0
        else:
            state[0] += np.poly1d(SPEC_POLYNOMIAL)(float((e0 - state[1]).abs().mean() / state[1].abs().mean()))
            compute = state[0] >= self.threshold
            if compute:
                state[0] = 0.0
        state[1] = e0.clone()
        self.decisions.append(("cond" if branch == 0 else "uncond", step, compute))
        if not compute:
            self.model.blocks = torch.nn.ModuleList([_AddResidual(state[2])])

    def keep_input(self, module, args):
        self.block_input = args[0]

    def keep_residual(self, module, args, out):
        self.state[self.calls % 2][2] = out - self.block_input

    def restore(self, module, args, out):
        self.model.blocks = self.blocks
        self.calls += 1

    def remove(self):
        for handle in self.handles:
            handle.remove()


# The tiny random model's timestep projection changes by 65-100 % per step (the real model's by a few %), so the
# polynomial gives thousands: these thresholds span "never skips" to "skips most steps" on it.
@pytest.mark.parametrize("threshold", [0.2, 8000.0, 40000.0])
def test_teacache_skips_the_steps_and_gives_the_output_of_the_spec_implementation(tiny_model, threshold):
    model = tiny_model("I2V")
    conditions = tiny_conditions(model)
    settings = SamplerSettings(steps=12, guidance=2.0, seed=3)
    cache = TeaCache(12, threshold)
    ours = sample(model, scheduler(), conditions, settings, step_cache=cache)
    assert getattr(model, "step_cache", None) is None and not cache.states  # detached, residuals freed

    reference = ReferenceTeaCache(model, threshold, 12)
    expected = sample(model, scheduler(), conditions, settings)
    reference.remove()
    assert cache.decisions == reference.decisions
    assert cache.skipped == sum(not computed for *_, computed in reference.decisions)
    assert cache.computed + cache.skipped == 24
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    assert (cache.skipped > 0) == (threshold > 0.2)
    if threshold == 8000.0:
        assert 0 < cache.skipped < 2 * (12 - SPEC_ALWAYS_COMPUTED)  # a mix of skipped and computed steps
    assert all(computed for _, step, computed in cache.decisions if step < SPEC_ALWAYS_COMPUTED)


def test_teacache_changes_the_result_only_by_skipping(tiny_model):
    model = tiny_model("I2V")
    conditions = tiny_conditions(model)
    settings = SamplerSettings(steps=12, guidance=2.0, seed=3)
    plain = sample(model, scheduler(), conditions, settings)
    cache = TeaCache(12, 1e9)  # skips every step it may
    skipping = sample(model, scheduler(), conditions, settings, step_cache=cache)
    assert cache.skipped == 2 * (12 - SPEC_ALWAYS_COMPUTED)
    assert not torch.equal(skipping, plain)
    never = TeaCache(12, 1e-12)
    never.rescale = np.poly1d([1.0, 1.0])  # always >= 1 per step: every step computed, exactly the plain result
    torch.testing.assert_close(
        sample(model, scheduler(), conditions, settings, step_cache=never), plain, rtol=0, atol=0
    )
    assert never.skipped == 0


@pytest.mark.parametrize("cache_class", [MagCache, FirstBlockCache])
def test_library_caches_skip_forwards_count_them_and_leave_no_hooks(tiny_model, cache_class):
    model = tiny_model("I2V")
    conditions = tiny_conditions(model)
    settings = SamplerSettings(steps=12, guidance=2.0, seed=3)
    plain = sample(model, scheduler(), conditions, settings)
    cache = cache_class(12, threshold=1e6)  # as permissive as it gets: whatever the cache may skip, it skips
    cached = sample(model, scheduler(), conditions, settings, step_cache=cache)
    assert cache.computed + cache.skipped == 24 and cache.skipped > 0
    assert not torch.equal(cached, plain)
    registries = [getattr(module, "_diffusers_hook", None) for module in model.modules()]
    assert [name for registry in registries if registry is not None for name in registry.hooks] == []
    torch.testing.assert_close(sample(model, scheduler(), conditions, settings), plain, rtol=0, atol=0)


def test_magcache_keeps_the_first_steps_and_bounds_consecutive_skips(tiny_model):
    model = tiny_model("T2V")
    cache = MagCache(20, threshold=1e6)
    sample(model, scheduler(), tiny_conditions(model), SamplerSettings(steps=20, guidance=1.0), step_cache=cache)
    assert cache.computed >= 4  # retention 20 %: steps 0-3 always computed; then at most 6 skips in a row
    assert cache.skipped > 0 and cache.skipped <= 16 * 6 / 7 + 1


@pytest.mark.parametrize("settings, words", [(("bogus", None), "unknown step cache"), (("teacache", -1.0), "positive")])
def test_bad_cache_settings_are_refused(settings, words):
    with pytest.raises(InputError, match=words):
        StepCacheSettings(*settings)


def test_make_step_cache_defaults_to_the_release_threshold():
    cache = make_step_cache(StepCacheSettings("teacache"), 40)
    assert isinstance(cache, TeaCache) and cache.threshold == 0.2 and cache.ret_steps == 5 and cache.cutoff_steps == 40
    assert make_step_cache(None, 40) is None
