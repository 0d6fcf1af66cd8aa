"""Sampling a clip longer than the DiT's window: windows of native length, blended every step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from realisdance.encoders.scheduler import WAN21_I2V_SCHEDULER_CONFIG, load_scheduler
from realisdance.pipeline.conditions import Branch, Conditions, ModelSignature
from realisdance.pipeline.sampling import SamplerSettings, initial_noise, sample
from realisdance.pipeline.windows import WindowPlan

LATENT_FRAMES, WINDOW, OVERLAP = 9, 4, 2


def conditions_for(model, frames=LATENT_FRAMES, seed=0):
    g = torch.Generator().manual_seed(seed)
    signature = ModelSignature.of(model)
    clip = torch.randn(1, 257, model.config.image_dim, generator=g) if model.config.image_dim else None
    reference = torch.randn(1, 16, 1, 4, 6, generator=g)
    positive = Branch(torch.randn(1, 512, model.config.text_dim, generator=g), clip, reference)
    negative = Branch(torch.zeros(1, 512, model.config.text_dim), None if clip is None else clip * 0, reference * 0)
    pose = torch.randn(1, model.config.add_cond_in_dim, frames, 4, 6, generator=g)
    image = torch.randn(1, 20, frames, 4, 6, generator=g) if signature.is_i2v else None
    return Conditions(pose, image, positive, negative, signature, 4 * (frames - 1) + 1, 32, 48)


def scheduler():
    return load_scheduler(dict(WAN21_I2V_SCHEDULER_CONFIG), "unipc")


class FrameLocalDiT(torch.nn.Module):
    """A stand-in DiT whose velocity at each latent frame depends on that frame only (latent and pose there), so a
    windowed run must give the whole-clip run's result exactly: any misaligned slice or weights not summing to one
    show up."""

    def __init__(self, like):
        super().__init__()
        self.config = like.config
        self.patch_embedding = torch.nn.Conv3d(1, 1, 1)
        self.calls: list[int] = []

    def forward(self, hidden, timestep, text, clip=None, add_cond=None, attn_cond=None, return_dict=False):
        assert hidden.shape[2] == add_cond.shape[2]  # the pose slice belongs to the latent slice
        self.calls.append(hidden.shape[2])
        latents = hidden[:, :16]
        return (0.3 * latents + 0.1 * add_cond[:, :16] * (1 + timestep.float().view(-1, 1, 1, 1, 1) / 1000),)


def test_a_clip_of_one_window_samples_exactly_as_without_windows(tiny_model):
    model = tiny_model("I2V")
    conditions = conditions_for(model, frames=3)
    plain = sample(model, scheduler(), conditions, SamplerSettings(steps=3, seed=1))
    windowed = sample(model, scheduler(), conditions, SamplerSettings(steps=3, seed=1, window=3))
    torch.testing.assert_close(windowed, plain, rtol=0, atol=0)


def test_windows_blend_to_the_whole_clip_result_for_a_frame_local_model(tiny_model):
    dit = FrameLocalDiT(tiny_model("T2V"))
    conditions = conditions_for(dit)
    plain = sample(dit, scheduler(), conditions, SamplerSettings(steps=4, seed=2))
    dit.calls.clear()
    windowed = sample(dit, scheduler(), conditions, SamplerSettings(steps=4, seed=2, window=WINDOW,
                                                                    window_overlap=OVERLAP))  # fmt: skip
    windows = len(WindowPlan(LATENT_FRAMES, WINDOW, OVERLAP).windows())
    assert windows > 2 and dit.calls == [WINDOW] * (4 * windows * 2)  # every forward is one window, both branches
    torch.testing.assert_close(windowed, plain, rtol=1e-5, atol=1e-6)


def test_every_window_sees_its_own_pose_and_the_clips_first_grey_frames(tiny_model):
    model = tiny_model("I2V")
    conditions = conditions_for(model)
    seen = []

    def spy(module, args, kwargs):
        seen.append(SimpleNamespace(grey=args[0][:, 16:].clone(), pose=kwargs["add_cond"].clone()))

    handle = model.register_forward_pre_hook(spy, with_kwargs=True)
    noise = initial_noise(conditions.latent_shape, seed=5)
    settings = SamplerSettings(steps=1, guidance=1.0, window=WINDOW, window_overlap=OVERLAP)
    latents = sample(model, scheduler(), conditions, settings, latents=noise)
    handle.remove()
    plan = WindowPlan(LATENT_FRAMES, WINDOW, OVERLAP)
    assert len(seen) == len(plan.windows()) and torch.isfinite(latents).all()
    for call, frames in zip(seen, plan.windows(), strict=True):
        torch.testing.assert_close(call.pose, conditions.pose[:, :, frames.start : frames.stop])
        torch.testing.assert_close(call.grey, conditions.image_condition[:, :, :WINDOW])


def test_the_pipeline_runs_a_long_clip_in_windows_and_a_short_one_as_before(tmp_path):
    import numpy as np

    from realisdance.pipeline.api import RealisDancePipeline
    from realisdance.tiny import build_tiny_release

    pipe = RealisDancePipeline.from_pretrained(build_tiny_release(tmp_path / "release"), dtype="fp32")
    rng = np.random.default_rng(0)
    media = (rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), *rng.random((2, 17, 64, 96, 3), dtype=np.float32))
    frames_seen = []
    handle = pipe.transformer.register_forward_pre_hook(lambda m, args: frames_seen.append(args[0].shape[2]))
    small = {"prompt": "x", "seed": 1, "max_area": 64 * 96, "steps": 2, "pose_fps": 16.0}
    out = pipe(*media, num_frames=17, window=9, window_overlap=4, **small)  # 5 latent frames in windows of 3
    assert out.frames.shape[0] == 17 and torch.isfinite(out.latents).all()
    windows = len(WindowPlan(5, 3, 1).windows())
    assert windows == 2 and frames_seen == [3] * (2 * windows * 2)
    frames_seen.clear()
    one = pipe(*media, num_frames=9, window=9, window_overlap=4, **small)
    unwindowed = pipe(*media, num_frames=9, window=None, **small)
    handle.remove()
    torch.testing.assert_close(one.latents, unwindowed.latents, rtol=0, atol=0)


# -- the continuation scheme ---------------------------------------------------------------------------------------


def test_continuation_conditions_each_window_on_the_previous_ones_finished_frames(tiny_model):
    model = tiny_model("I2V")
    conditions = conditions_for(model)
    seen, finished = [], []

    def spy(module, args, kwargs):
        seen.append(args[0][:, 16:].clone())  # the 20 condition channels: 4 mask + 16 latent

    def window_done(index, total, latents):
        if (index + 1) % 2 == 0:  # 2 steps per window
            finished.append(latents.clone())

    handle = model.register_forward_pre_hook(spy, with_kwargs=True)
    settings = SamplerSettings(steps=2, guidance=1.0, seed=3, window=WINDOW, window_overlap=OVERLAP,
                               window_scheme="continue")  # fmt: skip
    result = sample(model, scheduler(), conditions, settings, callback=window_done)
    handle.remove()
    plan = WindowPlan(LATENT_FRAMES, WINDOW, OVERLAP)
    windows = plan.windows()
    assert len(seen) == 2 * len(windows) and len(finished) == len(windows)
    grey = conditions.image_condition[:, :, :WINDOW]
    torch.testing.assert_close(seen[0], grey)  # the first window: the release's grey condition, mask 0
    for number in range(1, len(windows)):
        shared = windows[number - 1].stop - windows[number].start
        condition = seen[2 * number]
        assert condition[:, :4, :shared].eq(1).all()  # known frames: I2V mask 1
        before = finished[number - 1][:, :, windows[number].start - windows[number - 1].start :]
        torch.testing.assert_close(condition[:, 4:, :shared], before)  # ... and their finished latents
        torch.testing.assert_close(condition[:, :, shared:], grey[:, :, shared:])  # the rest as the release
    # Every frame is the weighted sum of the windows holding it (weights summing to one).
    weights = plan.weights().float()
    expected = torch.zeros_like(result)
    for number, frames in enumerate(windows):
        expected[:, :, frames.start : frames.stop] += finished[number] * weights[
            number, frames.start : frames.stop
        ].view(1, 1, -1, 1, 1)
    torch.testing.assert_close(result, expected)


def test_continuation_of_a_clip_of_one_window_is_the_plain_sampling(tiny_model):
    model = tiny_model("I2V")
    conditions = conditions_for(model, frames=3)
    plain = sample(model, scheduler(), conditions, SamplerSettings(steps=2, seed=4))
    one = sample(model, scheduler(), conditions, SamplerSettings(steps=2, seed=4, window=3, window_scheme="continue"))
    torch.testing.assert_close(one, plain, rtol=0, atol=0)


def test_continuation_needs_an_i2v_model(tiny_model):
    from realisdance.errors import InputError

    dit = FrameLocalDiT(tiny_model("T2V"))
    settings = SamplerSettings(steps=1, window=WINDOW, window_overlap=OVERLAP, window_scheme="continue")
    with pytest.raises(InputError, match="I2V condition"):
        sample(dit, scheduler(), conditions_for(dit), settings)


def test_an_unknown_window_scheme_is_refused():
    from realisdance.errors import InputError

    with pytest.raises(InputError, match="average, continue"):
        SamplerSettings(window_scheme="stitch")


# -- resume --------------------------------------------------------------------------------------------------------


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("scheme", ["average", "continue"])
def test_a_run_interrupted_mid_clip_resumes_to_the_uninterrupted_result(tiny_model, tmp_path, scheme):
    from realisdance.pipeline.sampling_progress import SamplingProgress

    model = tiny_model("I2V")
    conditions = conditions_for(model)
    settings = SamplerSettings(steps=3, seed=6, window=WINDOW, window_overlap=OVERLAP, window_scheme=scheme)
    whole = sample(model, scheduler(), conditions, settings)
    windows = len(WindowPlan(LATENT_FRAMES, WINDOW, OVERLAP).windows())
    stop_at = 1 if scheme == "average" else 3 * (windows - 1) + 1  # mid-schedule / inside the last window
    calls = []

    def interrupt(index, total, latents):
        calls.append(index)
        if index == stop_at:
            raise Interrupt

    progress = SamplingProgress(tmp_path / "clip.mp4.progress.pt", interval_s=0, say=lambda text: None)
    with pytest.raises(Interrupt):
        sample(model, scheduler(), conditions, settings, callback=interrupt, progress=progress)
    assert progress.path.is_file()
    calls.clear()
    resumed = sample(model, scheduler(), conditions, settings, callback=lambda *a: calls.append(a[0]),
                     progress=progress)  # fmt: skip
    torch.testing.assert_close(resumed, whole, rtol=0, atol=0)
    if scheme == "average":
        assert calls == [2]  # steps 0 and 1 were saved before the interrupt; only step 2 ran again
    else:
        assert calls == list(range(3 * (windows - 1), 3 * windows))  # only the last window ran again


def test_progress_of_another_job_is_not_resumed(tiny_model, tmp_path):
    from realisdance.pipeline.sampling_progress import SamplingProgress

    model = tiny_model("I2V")
    conditions = conditions_for(model)
    settings = SamplerSettings(steps=2, seed=7, window=WINDOW, window_overlap=OVERLAP, window_scheme="continue")
    said = []
    progress = SamplingProgress(tmp_path / "p.pt", interval_s=0, say=said.append)

    def stop(index, total, latents):
        if index == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        sample(model, scheduler(), conditions, settings, callback=stop, progress=progress)
    other = SamplerSettings(steps=2, seed=8, window=WINDOW, window_overlap=OVERLAP, window_scheme="continue")
    fresh = sample(model, scheduler(), conditions, other, progress=progress)
    torch.testing.assert_close(fresh, sample(model, scheduler(), conditions, other), rtol=0, atol=0)
    assert any("belongs to another job" in line for line in said)
