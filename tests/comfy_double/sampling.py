"""Double of ``comfy.samplers`` / ``comfy.sample``: seeded noise, a SAMPLER wrapping a k-diffusion-style function,
and custom sampling with classifier-free guidance over the MODEL's conditioning.

Our own implementation of the contract: the start latent is normalised and noised to the first sigma
(``sigma * noise + (1 - sigma) * latent``); the sampler function gets ``denoiser(x, sigma, **extra_args)`` returning
``uncond + cfg * (cond - uncond)`` (one pass when cfg is 1), and a callback per step (``{"i", "x", "denoised"}``)
that reaches the node's progress bar; the result comes back raw. Each branch runs on its own batch, with
``transformer_options`` carrying ``cond_or_uncond``, ``sigmas`` and ``sample_sigmas`` as the host's do. Cancel
stops the sampling before the next model call.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from . import model_management


def prepare_noise(latent_image: torch.Tensor, seed: int, noise_inds=None) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(latent_image.shape, generator=generator, dtype=latent_image.dtype)


class KSAMPLER:  # noqa: N801 (the host's name)
    def __init__(self, sampler_function, extra_options=None, inpaint_options=None) -> None:
        self.sampler_function = sampler_function
        self.extra_options = dict(extra_options or {})


def _branch_conds(model, conditioning, noise: torch.Tensor) -> dict:
    if len(conditioning) != 1:
        raise ValueError(f"the double samples one conditioning entry per branch, got {len(conditioning)}")
    tensor, options = conditioning[0]
    params = {**options, "cross_attn": tensor, "noise": noise, "device": noise.device}
    return model.extra_conds(**params)


@contextmanager
def _object_patches(patcher):
    inner, saved = patcher.model, {}
    for name, value in patcher.object_patches.items():
        saved[name] = getattr(inner, name)
        setattr(inner, name, value)
    try:
        yield inner
    finally:
        for name, value in saved.items():
            setattr(inner, name, value)


def sample_custom(model, noise, cfg, sampler, sigmas, positive, negative, latent_image, noise_mask=None,
                  callback=None, disable_pbar=False, seed=None):  # fmt: skip
    if noise_mask is not None:
        raise ValueError("the double has no noise masks")
    with _object_patches(model) as inner:
        latent = inner.process_latent_in(latent_image)
        x = inner.model_sampling.noise_scaling(sigmas[0], noise, latent)
        branches = [_branch_conds(inner, positive, x)]
        if not math.isclose(cfg, 1.0):
            branches.append(_branch_conds(inner, negative, x))
        base_options = model.model_options.get("transformer_options", {})

        def denoiser(x, sigma, **extra_args):
            predictions = []
            for index, conds in enumerate(branches):
                # the host checks Cancel in every layer it runs (comfy.ops); the double before every model call
                model_management.throw_exception_if_processing_interrupted()
                options = {**base_options, "cond_or_uncond": [index], "sigmas": sigma, "sample_sigmas": sigmas}
                kwargs = {name: cond.process_cond(x.shape[0]).cond for name, cond in conds.items()}
                predictions.append(inner.apply_model(x, sigma, transformer_options=options, **kwargs))
            if len(predictions) == 1:
                return predictions[0]
            cond, uncond = predictions
            return uncond + (cond - uncond) * cfg

        def step_callback(state: dict) -> None:
            if callback is not None:
                callback(state["i"], state["denoised"], state["x"], len(sigmas) - 1)

        samples = sampler.sampler_function(
            denoiser, x, sigmas, extra_args={"seed": seed}, callback=step_callback, disable=disable_pbar,
            **sampler.extra_options,
        )  # fmt: skip
        samples = inner.model_sampling.inverse_noise_scaling(sigmas[-1], samples)
        return inner.process_latent_out(samples)
