"""Double of ``comfy.supported_models``: the Wan 2.1 model configs the host's detection picks from.

A config class names the ``unet_config`` entries a detected state dict must have and the keys it must hold; the
first match in ``models`` wins (the pack inserts its RealisDance config at the front).
"""

from __future__ import annotations

from . import latent_preview, model_base


class WAN21_T2V:  # noqa: N801 (the host's names)
    unet_config = {"image_model": "wan2.1", "model_type": "t2v"}
    required_keys: dict = {}
    sampling_settings = {"shift": 8.0}
    latent_format = latent_preview.Wan21

    def __init__(self, unet_config: dict) -> None:
        self.unet_config = dict(unet_config)
        self.sampling_settings = dict(type(self).sampling_settings)
        self.latent_format = type(self).latent_format()

    @classmethod
    def matches(cls, unet_config: dict, state_dict: dict) -> bool:
        return all(unet_config.get(key) == value for key, value in cls.unet_config.items()) and all(
            key in state_dict for key in cls.required_keys
        )

    def get_model(self, state_dict, prefix="", device=None):
        return model_base.WAN21(self, device=device)


class WAN21_I2V(WAN21_T2V):  # noqa: N801
    unet_config = {"image_model": "wan2.1", "model_type": "i2v", "in_dim": 36}

    def get_model(self, state_dict, prefix="", device=None):
        return model_base.WAN21(self, image_to_video=True, device=device)


models: list = [WAN21_T2V, WAN21_I2V]


def reset() -> None:
    """A fresh host's list (a pack inserts its configs into it when it loads)."""
    models[:] = [WAN21_T2V, WAN21_I2V]
