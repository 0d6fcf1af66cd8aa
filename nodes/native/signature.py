"""What a RealisDance MODEL takes, as the condition bundles of the deprecated pipeline-path nodes name it."""

from __future__ import annotations

from realisdance.errors import InputError
from realisdance.pipeline.conditions import ModelSignature

CLIP_CHANNELS = 1280  # ComfyUI's Wan I2V DiT projects CLIP ViT-H/14 tokens, as the release's does


def signature_of(model) -> ModelSignature:
    """The ``ModelSignature`` of a native RealisDance MODEL; refuses any other MODEL in one sentence."""
    from .model_base import is_realisdance

    if not is_realisdance(model):
        raise InputError("this MODEL is not RealisDance-DiT; load the model with 'RealisDance-DiT Loader (MODEL)'.")
    diffusion_model = model.get_model_object("diffusion_model")
    return ModelSignature(
        in_channels=diffusion_model.in_dim,
        add_cond_in_dim=diffusion_model.add_conv_in.in_channels,
        attn_cond_in_dim=diffusion_model.attn_conv_in.in_channels,
        text_dim=diffusion_model.text_dim,
        image_dim=CLIP_CHANNELS if diffusion_model.img_emb is not None else None,
    )
