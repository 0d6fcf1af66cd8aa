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


def _velocity(transformer, latents, timestep, conditions: Conditions, branch: Branch, frames=None) -> torch.Tensor:
    """The DiT's velocity for ``latents``, which are the latent frames ``frames`` (a range) of the clip, or all."""
    pose = conditions.pose if frames is None else conditions.pose[:, :, frames.start : frames.stop]
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
        add_cond=pose,
        attn_cond=branch.reference,
        return_dict=False,
    )[0]


def _guided_velocity(transformer, latents, model_t, conditions, guidance, step_cache, index, frames=None):
    """CFG as the release does it: conditional pass first, then the unconditional one (both unbatched)."""
    name = "" if frames is None else f"/{frames.start}"  # a step cache keeps one state per branch and window
    with _branch(step_cache, "cond" + name, index):
        velocity = _velocity(transformer, latents, model_t, conditions, conditions.positive, frames)
    if guidance > 1.0:
        with _branch(step_cache, "uncond" + name, index):
            unconditional = _velocity(transformer, latents, model_t, conditions, conditions.negative, frames)
        velocity = unconditional + guidance * (velocity - unconditional)
    return velocity


def _blend_windows(plan: WindowPlan, device) -> list[tuple[range, torch.Tensor]]:
    """Each window's latent frames and its blend weights over them, shaped to multiply a (B, C, T, h, w) slice."""
    weights = plan.weights().to(device=device, dtype=torch.float32)
    return [
        (frames, weights[number, frames.start : frames.stop].view(1, 1, -1, 1, 1))
        for number, frames in enumerate(plan.windows())
    ]


def _windowed_velocity(transformer, latents, model_t, conditions, guidance, step_cache, index, windows):
    """Every window's guided velocity, blended with its weights (which sum to one on every frame)."""
    blended = torch.zeros_like(latents)
    for frames, weights in windows:
        span = slice(frames.start, frames.stop)
        velocity = _guided_velocity(transformer, latents[:, :, span], model_t, conditions, guidance, step_cache,
                                    index, frames)  # fmt: skip
        blended[:, :, span] += velocity.float() * weights
    return blended


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
    latents = latents.to(device=device, dtype=torch.float32)
    conditions = conditions.to(device)

    set_release_timesteps(scheduler, total_steps, device=device)
    timesteps = scheduler.timesteps[first_step:]
    if first_step:
        scheduler.set_begin_index(first_step)  # multistep solvers find their place from here, not by timestep value
    if init_latents is not None:
        sigma = float(scheduler.sigmas[first_step])
        latents = sigma * latents + (1.0 - sigma) * init_latents.to(device=device, dtype=torch.float32)
    windows = None  # a clip of one window samples exactly as without windows
    if settings.window is not None and shape[2] > settings.window:
        windows = _blend_windows(WindowPlan(shape[2], settings.window, settings.window_overlap), device)
    if step_cache is not None:
        step_cache.attach(transformer)
    try:
        for index, t in enumerate(timesteps):
            model_t = model_timestep(scheduler, t, batch_size=latents.shape[0]).to(device)
            with torch.no_grad():
                if windows is None:
                    velocity = _guided_velocity(
                        transformer, latents, model_t, conditions, settings.guidance, step_cache, index
                    )
                else:
                    velocity = _windowed_velocity(
                        transformer, latents, model_t, conditions, settings.guidance, step_cache, index, windows
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


def _branch(step_cache: StepCache | None, name: str, step: int):
    return nullcontext() if step_cache is None else step_cache.branch(name, step)
