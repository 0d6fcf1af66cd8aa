"""End to end on tiny official-layout folders: the release's run, its CFG branches, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realisdance.errors import InputError
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.pipeline.preprocess import prepare_inputs
from realisdance.pipeline.sampling import SamplerSettings
from realisdance.tiny import build_tiny_release

SMALL = {"num_frames": 5, "max_area": 64 * 96, "steps": 2}


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    root = tmp_path_factory.mktemp("releases")
    return {v: build_tiny_release(root / v, variant=v) for v in ("I2V", "T2V")}


@pytest.fixture(scope="module")
def pipelines(releases):
    return {v: RealisDancePipeline.from_pretrained(path, dtype="fp32") for v, path in releases.items()}


@pytest.fixture(scope="module")
def media():
    rng = np.random.default_rng(0)
    return {
        "reference": rng.integers(0, 255, (90, 60, 3), dtype=np.uint8),  # portrait, unlike the 2:3 landscape poses
        "smpl": rng.random((7, 64, 96, 3), dtype=np.float32),
        "hamer": rng.random((7, 64, 96, 3), dtype=np.float32),
    }


class ForwardSpy:
    """Records every DiT call of a pipeline (inputs by name) and passes it through."""

    def __init__(self, transformer):
        self.calls: list[dict] = []
        self.transformer = transformer
        self.original = transformer.forward

        def forward(hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image=None, **kwargs):
            self.calls.append(
                {
                    "hidden_states": hidden_states,
                    "timestep": timestep,
                    "text": encoder_hidden_states,
                    "clip": encoder_hidden_states_image,
                    **kwargs,
                }
            )
            return self.original(hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image, **kwargs)

        transformer.forward = forward

    def restore(self):
        self.transformer.forward = self.original


@pytest.mark.parametrize("variant", ["I2V", "T2V"])
@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_end_to_end_video_with_and_without_cfg(pipelines, media, variant, guidance):
    pipe = pipelines[variant]
    spy = ForwardSpy(pipe.transformer)
    try:
        out = pipe(
            media["reference"], media["smpl"], media["hamer"], prompt="a dancer", guidance=guidance, seed=3, **SMALL
        )
    finally:
        spy.restore()
    assert out.frames.shape == (5, 64, 96, 3) and out.frames.dtype == torch.float32
    assert 0.0 <= out.frames.min() and out.frames.max() <= 1.0
    assert out.latents.shape == (1, 16, 2, 8, 12)
    assert len(spy.calls) == SMALL["steps"] * (2 if guidance > 1 else 1)  # guidance 1: one forward per step
    expected_channels = 36 if variant == "I2V" else 16
    assert all(c["hidden_states"].shape[1] == expected_channels for c in spy.calls)


def test_same_seed_same_video_other_seed_other_video_and_explicit_noise_is_used(pipelines, media):
    pipe = pipelines["I2V"]
    run = lambda **kw: pipe(media["reference"], media["smpl"], media["hamer"], prompt="x", **SMALL, **kw)  # noqa: E731
    first, again, other = run(seed=5), run(seed=5), run(seed=6)
    assert torch.equal(first.frames, again.frames)
    assert not torch.allclose(first.latents, other.latents)
    generator_run = run(generator=torch.Generator().manual_seed(5))
    assert torch.equal(generator_run.latents, first.latents)  # a seed and a generator seeded alike agree
    noise = torch.randn(1, 16, 2, 8, 12, generator=torch.Generator().manual_seed(99))
    explicit = run(latents=noise, seed=5)
    assert not torch.allclose(explicit.latents, first.latents)
    assert torch.equal(explicit.latents, run(latents=noise.clone(), seed=1).latents)  # the seed is ignored then
    with pytest.raises(InputError, match="initial latents must have shape"):
        run(latents=torch.zeros(1, 16, 3, 8, 12))


def test_cfg_branches_are_built_as_the_release_builds_them(pipelines, media):
    pipe = pipelines["I2V"]
    prepared = prepare_inputs(media["reference"], media["smpl"], media["hamer"], num_frames=5, max_area=64 * 96)
    conditions = pipe.build_conditions(prepared, "a dancer", "")
    vae, clip = pipe.vae, pipe.clip_encoder
    raw, resized = prepared.reference_raw.unsqueeze(0), prepared.reference.unsqueeze(0)

    torch.testing.assert_close(conditions.positive.clip, clip.encode(raw))
    torch.testing.assert_close(conditions.negative.clip, clip.encode(torch.full_like(raw, 0.0)))  # mid-grey image
    torch.testing.assert_close(conditions.positive.reference, vae.encode_image(resized))
    torch.testing.assert_close(conditions.negative.reference, vae.encode_image(torch.zeros_like(resized)))
    assert conditions.negative.reference.shape == conditions.positive.reference.shape  # grey image AT REF SIZE
    torch.testing.assert_close(conditions.negative.text, pipe.text_encoder.encode(""))
    pose = torch.cat([vae.encode(prepared.smpl[None]), vae.encode(prepared.hamer[None])], dim=1)
    torch.testing.assert_close(conditions.pose, pose)  # [SMPL-CS | hands], normalised latents
    grey = vae.encode(torch.zeros(1, 3, 5, 64, 96))
    assert torch.count_nonzero(conditions.image_condition[:, :4]) == 0  # no frame is marked as given
    torch.testing.assert_close(conditions.image_condition[:, 4:], grey)  # the first-frame slot holds no reference

    spy = ForwardSpy(pipe.transformer)
    try:
        pipe.sample(conditions, SamplerSettings(steps=1, guidance=2.0, seed=0))
    finally:
        spy.restore()
    cond, uncond = spy.calls
    assert torch.equal(cond["add_cond"], uncond["add_cond"])  # the SAME pose in both branches
    assert torch.equal(cond["hidden_states"], uncond["hidden_states"])
    assert torch.equal(uncond["attn_cond"], conditions.negative.reference)
    assert torch.equal(uncond["clip"], conditions.negative.clip)


def test_cfg_combines_the_branches_with_the_guidance_scale(pipelines, media):
    pipe = pipelines["T2V"]
    prepared = prepare_inputs(media["reference"], media["smpl"], media["hamer"], num_frames=5, max_area=64 * 96)
    conditions = pipe.build_conditions(prepared, "a dancer", "blurry")
    noise = torch.randn(conditions.latent_shape, generator=torch.Generator().manual_seed(1))
    outputs = {}
    for g in (1.0, 3.0):
        spy = ForwardSpy(pipe.transformer)
        try:
            outputs[g] = pipe.sample(conditions, SamplerSettings(steps=1, guidance=g), latents=noise.clone())
        finally:
            spy.restore()
    # One flow step is linear in the velocity: x1 = x0 + dt * v, so the g=3 result must equal the g=1 result
    # moved by dt * 2 * (cond - uncond), with the branches taken from independent forwards.
    t = torch.tensor([pipe.scheduler.timesteps[0].item()], dtype=torch.int64)
    hidden = noise
    kw = {"add_cond": conditions.pose, "return_dict": False}
    with torch.no_grad():
        v_cond = pipe.transformer(
            hidden, t, conditions.positive.text, None, attn_cond=conditions.positive.reference, **kw
        )[0]
        v_uncond = pipe.transformer(
            hidden, t, conditions.negative.text, None, attn_cond=conditions.negative.reference, **kw
        )[0]
    sigmas = pipe.scheduler.sigmas
    dt = (sigmas[1] - sigmas[0]).item()
    torch.testing.assert_close(outputs[3.0] - outputs[1.0], dt * 2.0 * (v_cond - v_uncond), rtol=1e-4, atol=1e-5)


def test_conditions_built_for_another_model_are_refused(pipelines, media):
    prepared = prepare_inputs(media["reference"], media["smpl"], media["hamer"], num_frames=5, max_area=64 * 96)
    conditions = pipelines["T2V"].build_conditions(prepared, "x", "")
    with pytest.raises(InputError, match="built for another model"):
        pipelines["I2V"].sample(conditions, SamplerSettings(steps=1))


def test_text_encoder_of_another_model_is_refused(pipelines, media):
    pipe = pipelines["I2V"]
    prepared = prepare_inputs(media["reference"], media["smpl"], media["hamer"], num_frames=5, max_area=64 * 96)
    with pytest.raises(InputError, match="text encoder does not belong to this model"):
        pipe.build_conditions(prepared, torch.zeros(1, 512, 4096), "")


def test_precomputed_text_embeddings_are_padded_to_512(pipelines):
    pipe = pipelines["I2V"]
    short = torch.randn(7, 32)
    padded = pipe.encode_text(short)
    assert padded.shape == (1, 512, 32)
    torch.testing.assert_close(padded[0, :7], short)
    assert torch.count_nonzero(padded[0, 7:]) == 0


def test_48_channel_model_takes_a_third_dwpose_stream_and_refuses_without_it(pipelines, media):
    from realisdance.model import build_transformer, named_config

    base = pipelines["I2V"]
    wide = build_transformer(named_config("tiny-I2V", add_cond_in_dim=48))
    pipe = RealisDancePipeline(wide, base.vae, base.text_encoder, base.clip_encoder, base.scheduler)
    kwargs = {"prompt": "x", "seed": 1, **SMALL}
    out = pipe(media["reference"], media["smpl"], media["hamer"], dwpose=media["smpl"], **kwargs)
    assert out.frames.shape == (5, 64, 96, 3)
    with pytest.raises(InputError, match="takes 3 pose videos"):
        pipe(media["reference"], media["smpl"], media["hamer"], **kwargs)
    with pytest.raises(InputError, match="takes 2 pose videos"):
        base(media["reference"], media["smpl"], media["hamer"], dwpose=media["smpl"], **kwargs)


def test_each_step_reports_the_clean_latent_estimate_used_for_previews(pipelines, releases, media):
    from realisdance.encoders.scheduler import load_scheduler
    from realisdance.pipeline.sampling import sample

    pipe = pipelines["T2V"]
    prepared = prepare_inputs(media["reference"], media["smpl"], media["hamer"], num_frames=5, max_area=64 * 96)
    conditions = pipe.build_conditions(prepared, "a dancer")
    euler = load_scheduler(releases["T2V"] / "scheduler", kind="euler")
    estimates = []
    final = sample(
        pipe.transformer,
        euler,
        conditions,
        SamplerSettings(steps=3, guidance=1.0, seed=5),
        on_denoised=lambda index, total, x0: estimates.append((index, total, x0.clone())),
    )
    assert [(i, n) for i, n, _ in estimates] == [(0, 3), (1, 3), (2, 3)]
    # Euler's last step goes to sigma 0, x + (0 - sigma) * v = x - sigma * v: exactly the last clean estimate.
    torch.testing.assert_close(estimates[-1][2], final, rtol=0, atol=1e-6)
    # Earlier estimates are not the final latent (they come from noisier inputs).
    assert not torch.allclose(estimates[0][2], final, atol=1e-3)


def test_a_step_cache_in_the_settings_is_used_and_reported(pipelines, media):
    from realisdance.caching import StepCacheSettings

    pipe = pipelines["I2V"]
    kwargs = {"prompt": "x", "seed": 1, **SMALL, "steps": 7}
    plain = pipe(media["reference"], media["smpl"], media["hamer"], **kwargs)
    cached = pipe(media["reference"], media["smpl"], media["hamer"], **kwargs, cache=StepCacheSettings("teacache", 1e9))
    assert plain.cache_report is None
    assert cached.cache_report.startswith("TeaCache: skipped 4 of 14 DiT forwards")  # steps 5 and 6, both branches
    assert not torch.equal(cached.latents, plain.latents)
