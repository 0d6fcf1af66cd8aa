"""Double of ``comfy.model_base`` and ``comfy.conds``: a MODEL's inner model for flow-matching Wan 2.1, so the pack's
``RealisDanceWan`` subclass loads, conditions and samples in CPU tests.

Our own small implementation of the contract the pack relies on (ComfyUI itself is GPL-3 and not copied):

- ``BaseModel(model_config, model_type, device, unet_model)`` builds ``diffusion_model = unet_model(**unet_config,
  device=, operations=)`` and a flow ``model_sampling`` (shift from the config's ``sampling_settings``);
- ``extra_conds(**kwargs)`` turns one conditioning entry's options (``cross_attn``, ``concat_latent_image``,
  ``clip_vision_output``, ``noise``, ``device``) into named CONDs; ``WAN21`` builds the I2V concat of four zero mask
  channels and the normalised image latent (the host's order), and ``clip_fea`` from the penultimate CLIP states;
- ``apply_model(x, sigma, c_concat=, c_crossattn=, transformer_options=, **conds)`` -> the denoised estimate
  ``x - sigma * v`` of the DiT's velocity at timestep ``1000 * sigma``;
- latents enter normalised (``process_latent_in``) and leave raw (``process_latent_out``), as LATENT dicts hold them.

The real host is held to the core pipeline by tests/host; this double is held to the core by the node tests.
"""

from __future__ import annotations

import enum

import torch

from . import wan_dit


class ModelType(enum.Enum):
    EPS = 1
    FLOW = 6


# ---- comfy.conds -------------------------------------------------------------------------------------------------


class CONDRegular:
    """A tensor condition, repeated to the batch it is used in."""

    def __init__(self, cond):
        self.cond = cond

    def _copy_with(self, cond):
        return self.__class__(cond)

    def process_cond(self, batch_size: int, device=None, **kwargs):
        cond = self.cond
        if cond.shape[0] != batch_size:
            cond = cond.repeat(batch_size // cond.shape[0], *([1] * (cond.ndim - 1)))
        return self._copy_with(cond if device is None else cond.to(device))


class CONDConstant:
    """A value handed to the model as it is (a strength, a pair of sigmas)."""

    def __init__(self, cond):
        self.cond = cond

    def process_cond(self, batch_size: int, device=None, **kwargs):
        return self


# ---- comfy.model_sampling (flow) ------------------------------------------------------------------------------------


def time_snr_shift(shift: float, t):
    """Flow-matching sigma of a uniform time t under ``shift`` (the SD3 / Wan time shift)."""
    return shift * t / (1 + (shift - 1) * t)


class ModelSamplingFlow(torch.nn.Module):
    """Wan's sampling: sigma in (0, 1], timestep = 1000 sigma, velocity prediction, x_sigma = sigma n + (1-sigma) x0."""

    def __init__(self, shift: float = 1.0) -> None:
        super().__init__()
        self.set_parameters(shift=shift)

    def set_parameters(self, shift: float = 1.0, timesteps: int = 1000, multiplier: int = 1000) -> None:
        self.shift, self.multiplier = shift, multiplier
        self.register_buffer("sigmas", self.sigma(torch.arange(1, timesteps + 1) / timesteps * multiplier))

    def sigma(self, timestep):
        return time_snr_shift(self.shift, timestep / self.multiplier)

    def timestep(self, sigma):
        return sigma * self.multiplier

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return time_snr_shift(self.shift, 1.0 - percent)

    def calculate_input(self, sigma, x):
        return x

    def calculate_denoised(self, sigma, model_output, x):
        return x - model_output * sigma.reshape(-1, *([1] * (model_output.ndim - 1)))

    def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
        sigma = sigma.reshape(-1, *([1] * (noise.ndim - 1))) if torch.is_tensor(sigma) else sigma
        return sigma * noise + (1.0 - sigma) * latent_image

    def inverse_noise_scaling(self, sigma, latent):
        return latent / (1.0 - sigma)


# ---- comfy.model_base ---------------------------------------------------------------------------------------------


class BaseModel(torch.nn.Module):
    def __init__(self, model_config, model_type=ModelType.EPS, device=None, unet_model=None):
        super().__init__()
        self.model_config = model_config
        self.latent_format = model_config.latent_format
        self.manual_cast_dtype = None
        self.model_type = model_type
        unet_config = dict(model_config.unet_config)
        dtype = unet_config.pop("dtype", None)
        self.diffusion_model = unet_model(**unet_config, device=device, operations=wan_dit.disable_weight_init)
        if dtype is not None:
            self.diffusion_model.to(dtype)
        self.diffusion_model.eval()
        self.model_sampling = ModelSamplingFlow(model_config.sampling_settings.get("shift", 1.0))

    def get_dtype(self) -> torch.dtype:
        return next(self.diffusion_model.parameters()).dtype

    def process_latent_in(self, latent):
        return self.latent_format.process_in(latent)

    def process_latent_out(self, latent):
        return self.latent_format.process_out(latent)

    def concat_cond(self, **kwargs):
        return None

    def extra_conds(self, **kwargs) -> dict:
        out = {}
        concat = self.concat_cond(**kwargs)
        if concat is not None:
            out["c_concat"] = CONDRegular(concat)
        return out

    def load_model_weights(self, state_dict: dict, prefix: str = "") -> None:
        tensors = {name[len(prefix) :]: value for name, value in state_dict.items() if name.startswith(prefix)}
        missing, unexpected = self.diffusion_model.load_state_dict(tensors, strict=False)
        if missing:
            raise RuntimeError(f"the double's model lacks weights for {missing[:4]}")

    def apply_model(self, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kwargs):  # noqa: B006 (the host's signature)
        return self._apply_model(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)

    def _apply_model(self, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kwargs):  # noqa: B006
        sigma = t
        dtype = self.get_dtype()
        xc = self.model_sampling.calculate_input(sigma, x)
        if c_concat is not None:
            xc = torch.cat([xc, c_concat.to(xc)], dim=1)
        extra = {key: value.to(dtype) if torch.is_tensor(value) and value.is_floating_point() else value
                 for key, value in kwargs.items()}  # fmt: skip
        context = None if c_crossattn is None else c_crossattn.to(dtype)
        output = self.diffusion_model(
            xc.to(dtype), self.model_sampling.timestep(t).float(), context=context, control=control,
            transformer_options=dict(transformer_options), **extra,
        )  # fmt: skip
        return self.model_sampling.calculate_denoised(sigma, output.float(), x)


class WAN21(BaseModel):
    def __init__(self, model_config, model_type=ModelType.FLOW, image_to_video=False, device=None):
        super().__init__(model_config, model_type, device=device, unet_model=wan_dit.WanModel)
        self.image_to_video = image_to_video

    def concat_cond(self, **kwargs):
        noise = kwargs["noise"]
        extra_channels = self.diffusion_model.patch_embedding.weight.shape[1] - noise.shape[1]
        if extra_channels == 0:
            return None
        image = kwargs.get("concat_latent_image")
        if image is None:
            return torch.zeros(noise.shape[0], extra_channels, *noise.shape[2:], dtype=noise.dtype)
        channels = self.latent_format.latent_channels
        image = torch.cat([self.process_latent_in(part) for part in image.split(channels, dim=1)], dim=1)
        if image.shape[-2:] != noise.shape[-2:] or image.shape[2] != noise.shape[2]:
            raise ValueError(f"the double does not resize concat images: {tuple(image.shape)} vs {tuple(noise.shape)}")
        mask = torch.zeros_like(noise)[:, :4]
        return torch.cat([mask, image[:, : extra_channels - 4]], dim=1)

    def extra_conds(self, **kwargs) -> dict:
        out = super().extra_conds(**kwargs)
        if kwargs.get("cross_attn") is not None:
            out["c_crossattn"] = CONDRegular(kwargs["cross_attn"])
        clip_vision_output = kwargs.get("clip_vision_output")
        if clip_vision_output is not None:
            out["clip_fea"] = CONDRegular(clip_vision_output.penultimate_hidden_states)
        return out
