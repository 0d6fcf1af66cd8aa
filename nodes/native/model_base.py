"""RealisDance-DiT in ComfyUI's model registry: a ``model_base.WAN21`` subclass and a ``WAN21_I2V`` config.

``RealisDanceWan`` turns the conditioning that 'RealisDance To Video' writes into the DiT's extra inputs:

- ``concat_latent_image`` (the grey video's raw latent) and no mask: the host's own Wan I2V concat builds the
  release's 20 channels (4 zero mask channels + the normalised grey latent);
- ``clip_vision_output``: the host's ``clip_fea`` path;
- ``realisdance_pose`` / ``realisdance_reference``: raw VAE latents, normalised here with the model's latent format
  (each 16-channel pose stream on its own), like every other latent the host feeds a model;
- ``realisdance_pose_strength`` / ``realisdance_reference_strength`` and ``realisdance_pose_percent`` (start, end):
  constants; the percentages become sigmas with the model's own sampling (so shift nodes are honoured).

``RealisDanceWanConfig`` is matched by the host's detection for any Wan 2.1 state dict that holds the RealisDance
modules, so ComfyUI's own "Load Diffusion Model" (and loaders built on detection, e.g. GGUF) produce this model too.
"""

from __future__ import annotations

import torch

from ..host import wan_model_modules
from .wan_model import RELEASE_ROPE_SHIFT, RealisDanceWanModel

host_model_base, host_conds, host_models = wan_model_modules()

LATENT_CHANNELS = 16
POSE_KEY = "realisdance_pose"
REFERENCE_KEY = "realisdance_reference"
POSE_STRENGTH_KEY = "realisdance_pose_strength"
POSE_PERCENT_KEY = "realisdance_pose_percent"
REFERENCE_STRENGTH_KEY = "realisdance_reference_strength"
# Flow shift of the release's scheduler config (flow-UniPC, shift 5); a folder's own scheduler config overrides it.
RELEASE_SHIFT = 5.0


class RealisDanceWan(host_model_base.WAN21):
    def __init__(self, model_config, model_type=host_model_base.ModelType.FLOW, image_to_video=True, device=None):
        # WAN21.__init__ would build the plain WanModel: go one level up and name ours.
        host_model_base.BaseModel.__init__(
            self, model_config, model_type, device=device, unet_model=RealisDanceWanModel
        )
        self.image_to_video = image_to_video

    def _normalised(self, latents: torch.Tensor, device) -> torch.Tensor:
        latents = latents.to(device)
        streams = [self.process_latent_in(part) for part in latents.split(LATENT_CHANNELS, dim=1)]
        return torch.cat(streams, dim=1)

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        device = kwargs["device"]
        pose = kwargs.get(POSE_KEY)
        if pose is not None:
            out["rd_pose"] = host_conds.CONDRegular(self._normalised(pose, device))
        reference = kwargs.get(REFERENCE_KEY)
        if reference is not None:
            out["rd_reference"] = host_conds.CONDRegular(self._normalised(reference, device))
        out["rd_pose_strength"] = host_conds.CONDConstant(float(kwargs.get(POSE_STRENGTH_KEY, 1.0)))
        out["rd_reference_strength"] = host_conds.CONDConstant(float(kwargs.get(REFERENCE_STRENGTH_KEY, 1.0)))
        start, end = kwargs.get(POSE_PERCENT_KEY, (0.0, 1.0))
        if (start, end) != (0.0, 1.0):
            sampling = self.model_sampling
            sigmas = (float(sampling.percent_to_sigma(start)), float(sampling.percent_to_sigma(end)))
            out["rd_pose_sigmas"] = host_conds.CONDConstant(sigmas)
        return out

    # -- ComfyUI's context windows (long videos: the "Context Windows" / "WAN Context Windows" nodes) -------------

    def resize_cond_for_context_window(self, cond_key, cond_value, window, x_in, device, retain_index_list=()):
        """Each window's conditions (ComfyUI 0.28+ asks the model first): its own pose frames, never the first
        frame's pose retained in its slot (a pose belongs to its frame); the reference whole; the grey video left
        whole here and cut to the window's length from its start in ``_apply_model`` (the release's grey condition
        of a window-long clip, as the core's windows do)."""
        if cond_key == "rd_pose" and hasattr(cond_value, "cond") and cond_value.cond.shape[2] == x_in.shape[2]:
            return cond_value._copy_with(window.get_tensor(cond_value.cond, device, dim=2))
        if cond_key in ("rd_reference", "c_concat"):
            return cond_value
        return super().resize_cond_for_context_window(
            cond_key, cond_value, window, x_in, device, retain_index_list=retain_index_list
        )

    def _apply_model(self, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kwargs):  # noqa: B006 (the host's signature)
        window = transformer_options.get("context_window")
        frames = x.shape[2]
        if window is not None:
            if c_concat is not None and c_concat.shape[2] > frames:
                c_concat = c_concat[:, :, :frames]
            pose = kwargs.get("rd_pose")
            if pose is not None and pose.shape[2] != frames:
                # Hosts before 0.28 never slice 5-D conditions for a window: take the window's frames here.
                kwargs["rd_pose"] = window.get_tensor(pose, pose.device, 2)
        return super()._apply_model(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)


class RealisDanceWanConfig(host_models.WAN21_I2V):
    """Any Wan 2.1 DiT (I2V, or the paper's T2V ablation) that carries the RealisDance modules."""

    unet_config = {"image_model": "wan2.1"}
    # Plain names: v0.28 formats "{}" in these with the key prefix, v0.3.64 looks them up as written; diffusion model
    # files reach detection with their prefix stripped either way.
    required_keys = {"add_conv_in.weight": None, "attn_conv_in.weight": None, "add_proj.weight": None}
    sampling_settings = {"shift": RELEASE_SHIFT}

    def get_model(self, state_dict, prefix="", device=None):
        self.unet_config["add_cond_in_dim"] = state_dict[f"{prefix}add_conv_in.weight"].shape[1]
        self.unet_config["attn_cond_in_dim"] = state_dict[f"{prefix}attn_conv_in.weight"].shape[1]
        self.unet_config.setdefault("rope_shift", RELEASE_ROPE_SHIFT)
        image_to_video = self.unet_config.get("model_type") == "i2v"
        return RealisDanceWan(self, image_to_video=image_to_video, device=device)


def register() -> None:
    """Put our config first in the host's detection list (idempotent), ahead of the plain Wan configs that would
    otherwise claim the file and silently drop the RealisDance modules."""
    models = host_models.models
    if not any(
        getattr(entry, "__qualname__", None) == RealisDanceWanConfig.__qualname__
        and getattr(entry, "__module__", None) == RealisDanceWanConfig.__module__
        for entry in models
    ):
        models.insert(0, RealisDanceWanConfig)


def is_realisdance(model) -> bool:
    """Whether a MODEL (ModelPatcher) holds RealisDance-DiT."""
    return isinstance(getattr(getattr(model, "model", None), "diffusion_model", None), RealisDanceWanModel)
