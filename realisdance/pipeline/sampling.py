"""The sampling loop: flow matching with classifier-free guidance, as the release runs it (spec 3.2-3.4, 10)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..caching import StepCache
from ..encoders.scheduler import model_timestep, set_release_timesteps
from ..errors import InputError
from .conditions import Branch, Conditions
from .sampling_progress import SamplingProgress, job_fingerprint
from .window_sampling import DEFAULT_SCHEME, SCHEMES, WindowRun, sample_averaged, sample_continued
from .windows import DEFAULT_OVERLAP, WindowPlan

# Called after every step with (step index from 0, total steps, current latents); it may raise to cancel.
StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass(frozen=True)
class SamplerSettings:
    steps: int = 40
    guidance: float = 2.0
    seed: int = 1024
    # Below 1, sampling starts part-way down a longer schedule from a partly noised ``init_latents`` (img2img-like):
    # the schedule has round(steps / denoise) steps and the last ``steps`` of them run.
    denoise: float = 1.0
    # Long videos: the DiT runs on windows of this many latent frames (21 = 81 video frames, its native length)
    # sharing at least ``window_overlap`` frames, blended every step (pipeline/windows.py). None: one window, the
    # whole clip, as the release runs it.
    window: int | None = None
    window_overlap: int = DEFAULT_OVERLAP
    # How windows make one clip (pipeline/window_sampling.py): "average" blends every window's velocity at every
    # step; "continue" samples window after window, each conditioned on the previous one's last frames.
    window_scheme: str = DEFAULT_SCHEME

    def __post_init__(self) -> None:
        if self.window_scheme not in SCHEMES:
            raise InputError(f"the window scheme must be one of {', '.join(SCHEMES)}; got {self.window_scheme!r}")


def schedule_span(steps: int, denoise: float) -> tuple[int, int]:
    """(length of the schedule to build, index of the first step to run) for ``steps`` steps at ``denoise``."""
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    if not 0.0 < denoise <= 1.0:
        raise InputError(f"denoise must be in (0, 1], got {denoise}")
    total = max(steps, int(round(steps / denoise)))
    return total, total - steps


def initial_noise(shape, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal fp32 noise drawn on the CPU, so a seed gives the same video on every device."""
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed if seed is not None else SamplerSettings.seed))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32, device=generator.device)


def _velocity(transformer, latents, timestep, conditions: Conditions, branch: Branch) -> torch.Tensor:
    """The DiT's velocity for ``latents`` (the clip, or a window with its own ``Conditions.for_window``)."""
    hidden = latents
    if conditions.image_condition is not None:
        # The grey video's latent: a causal VAE gives a window-long grey clip exactly the clip's first frames.
        grey = conditions.image_condition[:, :, : latents.shape[2]]
        hidden = torch.cat([latents, grey], dim=1)
    return transformer(
        hidden,
        timestep,
        branch.text,
        branch.clip,
        add_cond=conditions.pose,
        attn_cond=branch.reference,
        return_dict=False,
    )[0]


def _guided_velocity(transformer, latents, model_t, conditions, guidance, step_cache, index, frames=None):
    """CFG as the release does it: conditional pass first, then the unconditional one (both unbatched)."""
    name = "" if frames is None else f"/{frames.start}"  # a step cache keeps one state per branch and window
    with _branch(step_cache, "cond" + name, index):
        velocity = _velocity(transformer, latents, model_t, conditions, conditions.positive)
    if guidance > 1.0:
        with _branch(step_cache, "uncond" + name, index):
            unconditional = _velocity(transformer, latents, model_t, conditions, conditions.negative)
        velocity = unconditional + guidance * (velocity - unconditional)
    return velocity


def sample(
    transformer,
    scheduler,
    conditions: Conditions,
    settings: SamplerSettings = SamplerSettings(),
    latents: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
    init_latents: torch.Tensor | None = None,
    on_denoised: StepCallback | None = None,
    step_cache: StepCache | None = None,
    progress: SamplingProgress | None = None,
) -> torch.Tensor:
    """Denoise from noise (or from the given initial ``latents``) to the normalised video latent, fp32.

    CFG follows the release: conditional pass first, then the unconditional one (both unbatched), and
    noise = uncond + g * (cond - uncond). guidance <= 1 runs the conditional pass only.
    ``init_latents`` (normalised) is a clean latent to start from: it is noised to the first step's sigma,
    x = sigma * noise + (1 - sigma) * init, the flow-matching interpolation; ``settings.denoise`` < 1 needs it.
    ``on_denoised(index, total, x0)`` receives each step's estimate of the clean latent, x0 = x - sigma * velocity
    (what progress previews show: the current latent is still mostly noise early on); called before ``callback``.
    ``step_cache`` (``realisdance.caching``) is attached for this run and told each forward's branch and step; its
    counts say afterwards how many forwards it skipped.

    A clip longer than ``settings.window`` latent frames is sampled in windows (``window_sampling.py``): its
    latents stay on the CPU, ``callback`` / ``on_denoised`` get the whole clip (averaged scheme) or the current
    window (continuation, with the step counted over all windows), and ``progress`` (a ``SamplingProgress``)
    keeps what is finished so a rerun of the same job resumes.
    """
    conditions.check_for(transformer)
    total_steps, first_step = schedule_span(settings.steps, settings.denoise)
    if first_step and init_latents is None:
        raise InputError(
            f"denoise {settings.denoise} below 1 needs a latent to start from; connect one, or set denoise to 1."
        )
    device = transformer.patch_embedding.weight.device
    shape = conditions.latent_shape
    if latents is None:
        latents = initial_noise(shape, settings.seed, generator)
    elif tuple(latents.shape) != shape:
        raise InputError(f"initial latents must have shape {shape} for these conditions, got {tuple(latents.shape)}")
    if init_latents is not None and tuple(init_latents.shape) != shape:
        raise InputError(
            f"the start latent has shape {tuple(init_latents.shape)} but these conditions need {shape}: it must come "
            "from a video of the same size and frame count."
        )
    if settings.window is not None and shape[2] > settings.window:
        return _sample_in_windows(
            transformer, scheduler, conditions, settings, latents, init_latents, device, step_cache, callback,
            on_denoised, progress, (total_steps, first_step),
        )  # fmt: skip
    latents = latents.to(device=device, dtype=torch.float32)
    conditions = conditions.to(device)

    set_release_timesteps(scheduler, total_steps, device=device)
    timesteps = scheduler.timesteps[first_step:]
    if first_step:
        scheduler.set_begin_index(first_step)  # multistep solvers find their place from here, not by timestep value
    if init_latents is not None:
        sigma = float(scheduler.sigmas[first_step])
        latents = sigma * latents + (1.0 - sigma) * init_latents.to(device=device, dtype=torch.float32)
    if step_cache is not None:
        step_cache.attach(transformer)
    try:
        for index, t in enumerate(timesteps):
            model_t = model_timestep(scheduler, t, batch_size=latents.shape[0]).to(device)
            with torch.no_grad():
                velocity = _guided_velocity(
                    transformer, latents, model_t, conditions, settings.guidance, step_cache, index
                )
            if on_denoised is not None:
                sigma = float(scheduler.sigmas[first_step + index])
                on_denoised(index, len(timesteps), latents - sigma * velocity.float())
            latents = scheduler.step(velocity.float(), t, latents, return_dict=False)[0]
            if callback is not None:
                callback(index, len(timesteps), latents)
    finally:
        if step_cache is not None:
            step_cache.detach(transformer)
    return latents


def _sample_in_windows(
    transformer, scheduler, conditions, settings, noise, init_latents, device, step_cache, callback, on_denoised,
    progress, span,
) -> torch.Tensor:  # fmt: skip
    """A clip longer than one window: its latents on the CPU, one window at a time on the device."""
    if noise.shape[0] != 1:
        raise InputError(f"windowed sampling makes one video at a time; got a batch of {noise.shape[0]}")
    noise = noise.to(device="cpu", dtype=torch.float32)
    init = None if init_latents is None else init_latents.to(device="cpu", dtype=torch.float32)
    conditions = conditions.to("cpu")
    total_steps, first_step = span
    fingerprint = job_fingerprint(conditions, settings, scheduler, noise, init) if progress is not None else ""
    run = WindowRun(
        transformer, scheduler, _guided_velocity, settings.guidance, total_steps, first_step, device, step_cache,
        callback, on_denoised, progress, fingerprint,
    )  # fmt: skip
    plan = WindowPlan(noise.shape[2], settings.window, settings.window_overlap)
    scheme = sample_averaged if settings.window_scheme == "average" else sample_continued
    if step_cache is not None:
        step_cache.attach(transformer)
    try:
        return scheme(run, conditions, plan, noise, init)
    finally:
        if step_cache is not None:
            step_cache.detach(transformer)


def _branch(step_cache: StepCache | None, name: str, step: int):
    return nullcontext() if step_cache is None else step_cache.branch(name, step)
