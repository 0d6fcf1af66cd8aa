"""The release's sampler on the host's sampling: its flow-UniPC solver as a ComfyUI SAMPLER, its sigmas, its noise.

Built on the host's ``sample_custom`` (through ``nodes/host.py``), so CFG, conditioning batching, model loading /
offloading, model patches and wrappers, previews and Cancel are all the host's. Only the solver step is the
release's: diffusers' ``UniPCMultistepScheduler`` (flow sigmas, bh2, order 2) on the release's sigma grid
(``set_release_timesteps``), fed the velocity the host's denoised estimate implies, v = (x - x0) / sigma.

The release starts from unit-variance noise at the first sigma (0.9998 at shift 5), where the host's flow noise
scaling would give sigma * noise: with a zero start latent the noise handed to the host is divided by that sigma,
so the first model input is exactly the release's.
"""

from __future__ import annotations

import copy

import torch

from realisdance.encoders.scheduler import WAN21_I2V_SCHEDULER_CONFIG, load_scheduler, set_release_timesteps
from realisdance.pipeline.sampling import schedule_span

from .. import host


def with_shift(model, shift: float):
    """A clone of ``model`` whose flow shift is ``shift`` (what ComfyUI's ModelSamplingSD3 node does)."""
    patched = model.clone()
    sampling = copy.deepcopy(model.get_model_object("model_sampling"))
    sampling.set_parameters(shift=shift)
    patched.add_object_patch("model_sampling", sampling)
    return patched


def release_scheduler(shift: float, steps: int, denoise: float):
    """(diffusers scheduler set to the release's grid, index of the first step to run)."""
    total, first = schedule_span(steps, denoise)
    scheduler = load_scheduler(WAN21_I2V_SCHEDULER_CONFIG, kind="unipc", shift=shift)
    set_release_timesteps(scheduler, total)
    if first:
        scheduler.set_begin_index(first)
    return scheduler, first


def _release_unipc(model, x, sigmas, extra_args=None, callback=None, disable=None, scheduler=None, first_step=0):
    """A k-diffusion-style sampler function (what ``comfy.samplers.KSAMPLER`` runs) stepping ``scheduler``."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    timesteps = scheduler.timesteps[first_step:]
    for index, t in enumerate(timesteps):
        sigma = sigmas[index]
        denoised = model(x, sigma * s_in, **extra_args)
        velocity = (x - denoised) / sigma
        if callback is not None:
            callback({"x": x, "i": index, "sigma": sigma, "sigma_hat": sigma, "denoised": denoised})
        x = scheduler.step(velocity.float(), t, x.float(), return_dict=False)[0].to(x.dtype)
    return x


def sample_release(model, positive, negative, latent: dict, seed: int, steps: int, cfg: float, denoise: float):
    """The host's custom sampling with the release's solver, sigmas and starting noise; returns the LATENT dict."""
    shift = float(model.get_model_object("model_sampling").shift)
    scheduler, first = release_scheduler(shift, steps, denoise)
    sigmas = scheduler.sigmas[first:].float().cpu()
    sampler = host.custom_sampler(_release_unipc, {"scheduler": scheduler, "first_step": first})
    start = latent["samples"]
    noise = host.prepare_noise(start, seed, latent.get("batch_index"))
    if not start.any():  # no start latent: the release's unit noise at sigma_0 (see the module docstring)
        noise = noise / sigmas[0]
    samples = host.sample_custom(
        model, noise, cfg, sampler, sigmas, positive, negative, start, latent.get("noise_mask"), seed
    )
    out = dict(latent)
    out.pop("noise_mask", None)
    out["samples"] = samples.to(torch.float32)
    return out
