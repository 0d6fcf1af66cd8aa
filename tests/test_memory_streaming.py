"""Block streaming on the tiny model: same outputs across plans, clean state after an error mid-forward."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import tiny_inputs

from realisdance.memory import JobSize, MemoryOptions, ModelFacts, place_transformer, plan_memory
from realisdance.memory.text_cache import TextEmbeddingCache


def tiny_plan(model, mode="auto", streamed=None):
    facts = ModelFacts(dict(model.config), "fp32")
    plan = plan_memory(facts, JobSize(5, 64, 96), MemoryOptions(mode=mode), free_bytes=None)
    if streamed is not None:
        plan = dataclasses.replace(plan, streamed_blocks=tuple(streamed))
    return plan


def forward(model, inputs):
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


@pytest.mark.parametrize("streamed", [(1,), (0, 1)])
def test_streamed_blocks_give_the_resident_output(tiny_model, streamed):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    reference = forward(model, inputs)
    placement = place_transformer(model, tiny_plan(model, streamed=streamed), "cpu")
    assert len(placement.groups()) == len(streamed)  # one diffusers group per streamed block, none elsewhere
    assert all(getattr(model.blocks[i], "_diffusers_hook", None) is None for i in range(2) if i not in streamed)
    torch.testing.assert_close(forward(model, inputs), reference, rtol=0, atol=0)
    torch.testing.assert_close(forward(model, inputs), reference, rtol=0, atol=0)  # hooks survive a second call
    placement.remove()
    assert all(hook_count(model.blocks[i]) == 0 for i in range(2))
    torch.testing.assert_close(forward(model, inputs), reference, rtol=0, atol=0)


def hook_count(block) -> int:
    registry = getattr(block, "_diffusers_hook", None)
    return 0 if registry is None else len(registry.hooks)


def test_fp8_plan_is_close_and_streaming_it_changes_nothing(tiny_model):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    reference = forward(model, inputs)
    fp8 = dataclasses.replace(tiny_plan(model), dtype="fp8_e4m3fn")
    place_transformer(model, fp8, "cpu")
    assert model.blocks[0].ffn.net[0].proj.weight.dtype == torch.float8_e4m3fn
    resident = forward(model, inputs)
    error = (resident.float() - reference).abs().mean() / reference.abs().mean()
    assert 0 < error < 0.1  # fp8 storage changes the numbers, a little
    place_transformer(model, dataclasses.replace(fp8, streamed_blocks=(0, 1)), "cpu")
    torch.testing.assert_close(forward(model, inputs), resident, rtol=0, atol=0)


def track_groups(placement):
    """Record whether each streamed group is onloaded (wrapping diffusers' onload_/offload_)."""
    state = {}
    for index, group in zip(placement.streamed, placement.groups(), strict=True):
        state[index] = "off"

        def wrap(method, value, index=index):
            def wrapped():
                method()
                state[index] = value

            return wrapped

        group.onload_ = wrap(group.onload_, "on")
        group.offload_ = wrap(group.offload_, "off")
    return state


class Boom(RuntimeError):
    pass


def raise_inside(module):
    """Make ``module`` raise in the middle of its forward (after its group was onloaded)."""

    def hook(mod, args):
        raise Boom("interrupted")

    return module.attn2.register_forward_pre_hook(hook)


@pytest.mark.parametrize("release", [True, False])
def test_an_error_mid_block_leaves_no_block_onloaded_after_release(tiny_model, release):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    reference = forward(model, inputs)
    placement = place_transformer(model, tiny_plan(model, streamed=(0, 1)), "cpu")
    state = track_groups(placement)
    handle = raise_inside(model.blocks[1])
    with pytest.raises(Boom):
        forward(model, inputs)
    assert state[1] == "on"  # the failing block's offload never ran
    if release:
        placement.release()
        assert set(state.values()) == {"off"}
    handle.remove()
    torch.testing.assert_close(forward(model, inputs), reference, rtol=0, atol=0)


def test_pipeline_sample_releases_streamed_blocks_on_interrupt(tiny_model):
    from realisdance.encoders.scheduler import WAN21_I2V_SCHEDULER_CONFIG, load_scheduler
    from realisdance.pipeline.api import RealisDancePipeline
    from realisdance.pipeline.conditions import Branch, Conditions, ModelSignature
    from realisdance.pipeline.sampling import SamplerSettings

    model = tiny_model("T2V")
    placement = place_transformer(model, tiny_plan(model, streamed=(1,)), "cpu")
    state = track_groups(placement)
    g = torch.Generator().manual_seed(0)
    branch = Branch(torch.randn(1, 512, 32, generator=g), None, torch.randn(1, 16, 1, 4, 6, generator=g))
    pose = torch.randn(1, 32, 2, 4, 6, generator=g)
    conditions = Conditions(pose, None, branch, branch, ModelSignature.of(model), 5, 32, 48)
    pipe = RealisDancePipeline(model, None, None, None, load_scheduler(dict(WAN21_I2V_SCHEDULER_CONFIG), "euler"))
    assert pipe.placement is placement
    settings = SamplerSettings(steps=2, guidance=2.0)
    clean = pipe.sample(conditions, settings)
    calls = {"n": 0}

    def interrupt_on_third_call(module, args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    handle = model.blocks[1].attn2.register_forward_pre_hook(interrupt_on_third_call)
    with pytest.raises(KeyboardInterrupt):
        pipe.sample(conditions, settings)
    assert state[1] == "off"
    handle.remove()
    torch.testing.assert_close(pipe.sample(conditions, settings), clean, rtol=0, atol=0)


def test_text_cache_is_an_lru_keyed_by_model_and_prompt():
    cache = TextEmbeddingCache(max_entries=2)
    a, b, c = torch.ones(1, 2, 3), torch.zeros(1, 2, 3), torch.full((1, 2, 3), 2.0)
    cache.put("m", "a", a)
    cache.put("m", "b", b)
    assert cache.get("other", "a") is None and torch.equal(cache.get("m", "a"), a)
    cache.put("m", "c", c)  # evicts "b", the least recently used
    assert cache.get("m", "b") is None and torch.equal(cache.get("m", "c"), c)
    assert (cache.hits, cache.misses) == (2, 2)


@pytest.mark.parametrize("streamed", [(1,), (0, 1)])
def test_each_streamed_block_is_onloaded_while_the_block_before_it_runs(tiny_model, streamed, monkeypatch):
    """The prefetch chain: the last resident block (or the previous streamed one) starts the next streamed block's
    copy when it starts, so the copy overlaps its compute on a GPU. Recorded through diffusers' own onload calls."""
    from diffusers.hooks.group_offloading import ModuleGroup

    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    placement = place_transformer(model, tiny_plan(model, streamed=streamed), "cpu")
    group_block = {id(group): index for index, group in zip(placement.streamed, placement.groups(), strict=True)}
    running: list[int] = []
    onloads: list[tuple[int, int | None]] = []  # (block onloaded, block running at that moment)
    original = ModuleGroup.onload_

    def spy(group, *args, **kwargs):
        onloads.append((group_block.get(id(group)), running[-1] if running else None))
        return original(group, *args, **kwargs)

    monkeypatch.setattr(ModuleGroup, "onload_", spy)
    hooks = [
        block.register_forward_pre_hook(lambda module, args, index=index: running.append(index), prepend=True)
        for index, block in enumerate(model.blocks)
    ]
    try:
        forward(model, inputs)
    finally:
        for hook in hooks:
            hook.remove()
    first = placement.streamed[0]
    if first > 0:  # the last resident block prefetches the first streamed one
        assert (first, first - 1) in onloads, onloads
    for previous, following in zip(placement.streamed, placement.streamed[1:], strict=False):
        assert (following, previous) in onloads, onloads  # prefetched while the previous block runs
    placement.remove()
