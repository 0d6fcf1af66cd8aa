"""The public pipeline: reference image + pose videos (+ prompt) -> video, exactly as the release runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from .conditions import Conditions, ModelSignature, build_conditions
from .preprocess import DEFAULT_MAX_AREA, DEFAULT_NUM_FRAMES, PreparedInputs, load_pose_video, prepare_inputs
from .sampling import SamplerSettings, StepCallback, sample

OUTPUT_FPS = 16


@dataclass
class RealisDanceOutput:
    frames: torch.Tensor  # (F, H, W, 3) float RGB in [0, 1]
    latents: torch.Tensor  # (1, 16, T, H/8, W/8) normalised latents, kept so decoding can be retried


def default_dtype(device: str | torch.device) -> str:
    """The release runs the DiT in bf16; on a CPU fp32 is faster and exact."""
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


class RealisDancePipeline:
    """Holds the loaded components; see ``from_pretrained`` and ``__call__``."""

    def __init__(self, transformer, vae, text_encoder, clip_encoder, scheduler):
        self.transformer = transformer
        self.vae = vae
        self.text_encoder = text_encoder
        self.clip_encoder = clip_encoder
        self.scheduler = scheduler
        self.signature = ModelSignature.of(transformer)
        if self.signature.is_i2v and clip_encoder is None:
            raise InputError("this I2V model needs the CLIP image encoder (the release's image_encoder/ folder)")

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        dtype: str | None = None,
        device: str | torch.device = "cpu",
        scheduler: str = "auto",
        transformer: str | Path | None = None,
        vae: str | Path | None = None,
        text_encoder: str | Path | None = None,
        image_encoder: str | Path | None = None,
        progress=None,
    ) -> RealisDancePipeline:
        """Load the official folder (``model``); any component may come from its own path instead."""
        from ..checkpoints import load_transformer
        from ..encoders import load_clip_image_encoder, load_scheduler, load_text_encoder, load_vae

        model = Path(model).expanduser()
        dtype = dtype or default_dtype(device)
        dit = load_transformer(transformer or model, dtype=dtype, device=device, progress=progress)
        text_dtype = torch.float32 if dtype == "fp32" else torch.bfloat16
        text = load_text_encoder(text_encoder or model, device=device, dtype=text_dtype)
        clip = None
        if dit.config.image_dim is not None:
            clip = load_clip_image_encoder(image_encoder or model, device=device)
        return cls(dit, load_vae(vae or model, device=device), text, clip, load_scheduler(model, kind=scheduler))

    # -- stages, usable one by one (the ComfyUI nodes call them separately) --

    def encode_text(self, prompt: str | torch.Tensor) -> torch.Tensor:
        """(1, 512, D) embeddings of a prompt, or precomputed embeddings padded/truncated to 512 tokens."""
        from ..encoders import pad_text_embeddings

        if isinstance(prompt, torch.Tensor):
            return pad_text_embeddings(prompt if prompt.ndim == 3 else prompt.unsqueeze(0)).float()
        return self.text_encoder.encode(prompt).float()

    def build_conditions(
        self,
        prepared: PreparedInputs,
        prompt: str | torch.Tensor = "",
        negative_prompt: str | torch.Tensor = "",
        dwpose: torch.Tensor | None = None,
    ) -> Conditions:
        """``dwpose``: the third pose stream (3, F, H, W) in [-1, 1] of 48-channel models (the paper's setup)."""
        return build_conditions(
            prepared,
            self.vae,
            self.signature,
            self.encode_text(prompt),
            self.encode_text(negative_prompt),
            self.clip_encoder,
            dwpose=dwpose,
        )

    def sample(self, conditions: Conditions, settings: SamplerSettings, **kwargs) -> torch.Tensor:
        return sample(self.transformer, self.scheduler, conditions, settings, **kwargs)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> frames (F, H, W, 3) in [0, 1] on the CPU."""
        video = self.vae.decode(latents)  # (1, 3, F, H, W)
        return video[0].permute(1, 2, 3, 0).cpu()

    def __call__(
        self,
        reference,
        smpl,
        hamer,
        prompt: str | torch.Tensor = "",
        negative_prompt: str | torch.Tensor = "",
        num_frames: int = DEFAULT_NUM_FRAMES,
        max_area: int = DEFAULT_MAX_AREA,
        steps: int = 40,
        guidance: float = 2.0,
        seed: int = 1024,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        callback: StepCallback | None = None,
        pose_fps: float | None = None,
        dwpose=None,
    ) -> RealisDanceOutput:
        """Animate ``reference`` with the ``smpl`` and ``hamer`` pose videos (paths, arrays or IMAGE batches).

        ``dwpose`` (same forms) is the third pose stream, only for models whose pose patchifier is 48 channels wide.
        """
        prepared = prepare_inputs(reference, smpl, hamer, num_frames=num_frames, max_area=max_area, pose_fps=pose_fps)
        dwpose_video = None
        if dwpose is not None:
            dwpose_video = load_pose_video(dwpose, num_frames, size=(prepared.height, prepared.width), fps=pose_fps)
        conditions = self.build_conditions(prepared, prompt, negative_prompt, dwpose=dwpose_video)
        settings = SamplerSettings(steps=steps, guidance=guidance, seed=seed)
        final = self.sample(conditions, settings, latents=latents, generator=generator, callback=callback)
        return RealisDanceOutput(frames=self.decode(final), latents=final.cpu())
