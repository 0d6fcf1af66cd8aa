"""The sampling loop: flow matching with classifier-free guidance, as the release runs it (spec 3.2-3.4, 10)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..encoders.scheduler import model_timestep, set_release_timesteps
from ..errors import InputError
from .conditions import Branch, Conditions

# Called after every step with (step index from 0, total steps, current latents); it may raise to cancel.
StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass(frozen=True)
class SamplerSettings:
    steps: int = 40
    guidance: float = 2.0
    seed: int = 1024


def initial_noise(shape, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal fp32 noise drawn on the CPU, so a seed gives the same video on every device."""
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed if seed is not None else SamplerSettings.seed))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32, device=generator.device)


def _velocity(transformer, latents, timestep, conditions: Conditions, branch: Branch) -> torch.Tensor:
    hidden = latents
    if conditions.image_condition is not None:
        hidden = torch.cat([latents, conditions.image_condition], dim=1)
    return transformer(
        hidden,
        timestep,
        branch.text,
        branch.clip,
        add_cond=conditions.pose,
        attn_cond=branch.reference,
        return_dict=False,
    )[0]


def sample(
    transformer,
    scheduler,
    conditions: Conditions,
    settings: SamplerSettings = SamplerSettings(),
    latents: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Denoise from noise (or from the given initial ``latents``) to the normalised video latent, fp32.

    CFG follows the release: conditional pass first, then the unconditional one (both unbatched), and
    noise = uncond + g * (cond - uncond). guidance <= 1 runs the conditional pass only.
    """
    conditions.check_for(transformer)
    if settings.steps < 1:
        raise InputError(f"steps must be at least 1, got {settings.steps}")
    device = transformer.patch_embedding.weight.device
    shape = conditions.latent_shape
    if latents is None:
        latents = initial_noise(shape, settings.seed, generator)
    elif tuple(latents.shape) != shape:
        raise InputError(f"initial latents must have shape {shape} for these conditions, got {tuple(latents.shape)}")
    latents = latents.to(device=device, dtype=torch.float32)
    conditions = conditions.to(device)

    set_release_timesteps(scheduler, settings.steps, device=device)
    timesteps = scheduler.timesteps
    for index, t in enumerate(timesteps):
        model_t = model_timestep(scheduler, t, batch_size=latents.shape[0]).to(device)
        with torch.no_grad():
            velocity = _velocity(transformer, latents, model_t, conditions, conditions.positive)
            if settings.guidance > 1.0:
                unconditional = _velocity(transformer, latents, model_t, conditions, conditions.negative)
                velocity = unconditional + settings.guidance * (velocity - unconditional)
        latents = scheduler.step(velocity.float(), t, latents, return_dict=False)[0]
        if callback is not None:
            callback(index, len(timesteps), latents)
    return latents
