"""Everything around the DiT: umT5 text, CLIP image tokens, the Wan VAE and the flow-matching scheduler.

Each loader takes the release root (``theFoxofSky/RealisDance-DiT``) or the component folder, and reproduces the
release's pre/post-processing exactly. Heavy libraries (transformers, diffusers) are imported when a loader runs.
"""

from .clip import CLIP_MEAN, CLIP_STD, ClipImageEncoder, load_clip_image_encoder, preprocess_for_clip
from .scheduler import (
    WAN21_I2V_SCHEDULER_CONFIG,
    flow_unipc_sigmas,
    flow_unipc_timesteps,
    load_scheduler,
    model_timestep,
    scheduler_shift,
    set_release_timesteps,
)
from .text import TEXT_TOKENS, TextEncoder, clean_prompt, load_text_encoder, load_tokenizer, pad_text_embeddings
from .vae import (
    WAN21_LATENTS_MEAN,
    WAN21_LATENTS_STD,
    VideoVAE,
    denormalize_latents,
    load_vae,
    normalize_latents,
)

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "TEXT_TOKENS",
    "WAN21_I2V_SCHEDULER_CONFIG",
    "WAN21_LATENTS_MEAN",
    "WAN21_LATENTS_STD",
    "ClipImageEncoder",
    "TextEncoder",
    "VideoVAE",
    "clean_prompt",
    "denormalize_latents",
    "flow_unipc_sigmas",
    "flow_unipc_timesteps",
    "load_clip_image_encoder",
    "load_scheduler",
    "load_text_encoder",
    "load_tokenizer",
    "load_vae",
    "model_timestep",
    "normalize_latents",
    "pad_text_embeddings",
    "preprocess_for_clip",
    "scheduler_shift",
    "set_release_timesteps",
]
