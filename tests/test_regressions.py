"""One-line bugs that once passed the whole suite, each pinned by a test that fails on it:

- the planner reserving one streamed block in flight instead of two (the current one and the prefetched next);
- ``from_pretrained`` no longer refusing a job that cannot fit before it loads anything;
- sigma and 1 - sigma swapped in the denoise < 1 start mix (x = sigma * noise + (1 - sigma) * start).
"""

from __future__ import annotations

import pytest
import torch
from test_pipeline import SMALL, ForwardSpy, media, pipelines, releases  # noqa: F401 (fixtures)

from realisdance.errors import InputError
from realisdance.memory import GIB, JobSize, MemoryOptions, plan_memory
from realisdance.memory.planner import ModelFacts
from realisdance.memory.weights import dit_weights
from realisdance.model.configs import named_config
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.pipeline.preprocess import prepare_inputs
from realisdance.pipeline.sampling import SamplerSettings, initial_noise


def test_a_streamed_plan_reserves_two_blocks_in_flight():
    config = named_config("14B-I2V")
    facts, job = ModelFacts(config, "bf16"), JobSize()
    largest = dit_weights(config, "bf16").largest_block
    resident = plan_memory(facts, job, MemoryOptions(mode="resident"), None)
    streamed = plan_memory(facts, job, MemoryOptions(mode="stream"), 24 * GIB)
    weights = dit_weights(config, "bf16").block_bytes
    offloaded = sum(weights[i] for i in streamed.streamed_blocks)
    # Same job, same fixed costs: the streamed plan trades its offloaded blocks for two blocks in flight.
    expected = resident.stage("sampling").bytes - offloaded + 2 * largest
    assert streamed.stage("sampling").bytes == expected


def test_from_pretrained_refuses_a_job_that_cannot_fit_before_loading_anything(releases, monkeypatch):  # noqa: F811
    import realisdance.checkpoints as checkpoints

    def no_load(*args, **kwargs):
        raise AssertionError("the transformer was loaded before the plan refused the job")

    monkeypatch.setattr(checkpoints, "load_transformer", no_load)
    with pytest.raises(InputError, match="GiB"):
        RealisDancePipeline.from_pretrained(releases["I2V"], memory=MemoryOptions(budget_bytes=2**20))


def test_denoise_below_one_mixes_sigma_noise_with_one_minus_sigma_start(pipelines, media):  # noqa: F811
    pipe = pipelines["I2V"]
    prepared = prepare_inputs(media["reference"], media["smpl"], media["hamer"], num_frames=5, max_area=64 * 96)
    conditions = pipe.build_conditions(prepared, "a dancer", "")
    start = torch.randn(conditions.latent_shape, generator=torch.Generator().manual_seed(5))
    settings = SamplerSettings(steps=2, guidance=1.0, seed=3, denoise=0.5)
    spy = ForwardSpy(pipe.transformer)
    try:
        pipe.sample(conditions, settings, init_latents=start)
    finally:
        spy.restore()
    first_input = spy.calls[0]["hidden_states"][:, :16]  # the noisy latent, before the I2V condition channels
    scheduler = pipe.scheduler
    sigma = float(scheduler.sigmas[2])  # 4-step schedule at denoise 0.5: the run starts at its third sigma
    noise = initial_noise(conditions.latent_shape, settings.seed)
    torch.testing.assert_close(first_input, sigma * noise + (1 - sigma) * start, rtol=1e-5, atol=1e-5)
    assert 0.1 < sigma < 0.9  # a swap would be visible


def test_attention_kwargs_are_never_silently_dropped():
    """They were accepted and ignored, so a LoRA scale passed there was lost; now only diffusers' LoRA 'scale' is
    taken (it weights PEFT adapters, as in diffusers' Wan), and anything else is refused."""
    from realisdance.model import RealisDanceTransformer

    torch.manual_seed(0)
    model = RealisDanceTransformer(**named_config("tiny-I2V")).eval()
    inputs = dict(
        hidden_states=torch.randn(1, 36, 2, 4, 4), timestep=torch.tensor([500]),
        encoder_hidden_states=torch.randn(1, 512, 32), encoder_hidden_states_image=torch.randn(1, 257, 24),
        add_cond=torch.randn(1, 32, 2, 4, 4), attn_cond=torch.randn(1, 16, 1, 4, 4), return_dict=False,
    )  # fmt: skip
    with torch.no_grad():
        plain = model(**inputs)[0]
        scaled = model(**inputs, attention_kwargs={"scale": 0.5})[0]  # no adapters loaded: same output
        with pytest.raises(InputError, match="only 'scale'"):
            model(**inputs, attention_kwargs={"joint_attention_kwargs": 1})
    torch.testing.assert_close(plain, scaled)
