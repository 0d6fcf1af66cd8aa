"""The condition bundle: everything the DiT receives besides the noisy latent, for both CFG branches.

Built exactly as the release's ``prepare_latents`` / ``encode_*`` do (spec 1.6, 3.4, 10):
- pose = [VAE(SMPL-CS) | VAE(hands) (| VAE(DWPose) for 48-channel models)] on channels, normalised latents;
- I2V condition = 4 zero mask channels + the normalised latent of a mid-grey video (the reference is NEVER put into
  the first-frame slot; it only enters as tokens and through CLIP);
- conditional branch: prompt, CLIP(reference), VAE(resized reference);
- unconditional branch: negative prompt, CLIP(grey image), VAE(grey image of the resized reference's size), and the
  SAME pose and I2V condition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..errors import InputError

I2V_MASK_CHANNELS = 4


@dataclass(frozen=True)
class ModelSignature:
    """The model a bundle was built for; a bundle only fits a model with the same signature."""

    in_channels: int
    add_cond_in_dim: int
    attn_cond_in_dim: int
    text_dim: int
    image_dim: int | None

    @classmethod
    def of(cls, transformer) -> ModelSignature:
        cfg = transformer.config
        return cls(cfg.in_channels, cfg.add_cond_in_dim, cfg.attn_cond_in_dim, cfg.text_dim, cfg.image_dim)

    @property
    def is_i2v(self) -> bool:
        return self.image_dim is not None

    @property
    def pose_streams(self) -> int:
        return self.add_cond_in_dim // 16


@dataclass
class Branch:
    """What one CFG branch feeds the DiT: text (B, 512, D), CLIP tokens (B, 257, 1280) or None, reference latent."""

    text: torch.Tensor
    clip: torch.Tensor | None
    reference: torch.Tensor


@dataclass
class Conditions:
    pose: torch.Tensor  # (B, add_cond_in_dim, T, h, w)
    image_condition: torch.Tensor | None  # (B, 20, T, h, w) for I2V models
    positive: Branch
    negative: Branch
    signature: ModelSignature
    num_frames: int
    height: int
    width: int

    @property
    def latent_shape(self) -> tuple[int, ...]:
        batch, _, frames, height, width = self.pose.shape
        return (batch, 16, frames, height, width)

    def job_size(self, guidance: float = 2.0):
        """The memory planner's ``JobSize`` of sampling with these conditions (reference size from its latent)."""
        from ..memory.sizes import VAE_SPATIAL, JobSize

        ref_height, ref_width = self.positive.reference.shape[-2:]
        return JobSize(
            self.num_frames, self.height, self.width, ref_height * VAE_SPATIAL, ref_width * VAE_SPATIAL, guidance
        )

    def check_for(self, transformer) -> None:
        signature = ModelSignature.of(transformer)
        if signature != self.signature:
            raise InputError(
                f"these conditions were built for another model ({self.signature}) than the one sampling "
                f"({signature}). Build the conditions again with this model connected."
            )

    def for_window(self, frames: range, known=None) -> Conditions:
        """The conditions of the latent frames ``frames`` sampled as a clip of their own (a window of a long video):
        their pose frames, and the grey video's first frames (as a causal VAE encodes a window-long grey clip).

        ``known`` (1, 16, k, h, w): clean latents of the window's first k frames (a finished neighbour's), given to
        the model the way Wan's I2V conditions on known frames: mask channels 1 and the latent in the condition.
        """
        pose = self.pose[:, :, frames.start : frames.stop]
        image_condition = self.image_condition
        if image_condition is not None:
            image_condition = image_condition[:, :, : len(frames)]
            if known is not None:
                image_condition = image_condition.clone()
                count = known.shape[2]
                image_condition[:, :I2V_MASK_CHANNELS, :count] = 1.0
                image_condition[:, I2V_MASK_CHANNELS:, :count] = known.to(image_condition)
        return replace(self, pose=pose, image_condition=image_condition, num_frames=4 * (len(frames) - 1) + 1)

    def to(self, device, dtype=None) -> Conditions:
        def move(x):
            return None if x is None else x.to(device=device, dtype=dtype or x.dtype)

        def move_branch(b: Branch) -> Branch:
            return Branch(move(b.text), move(b.clip), move(b.reference))

        return replace(
            self,
            pose=move(self.pose),
            image_condition=move(self.image_condition),
            positive=move_branch(self.positive),
            negative=move_branch(self.negative),
        )


def _encode(vae, video: torch.Tensor, tiling) -> torch.Tensor:
    """``vae.encode``, tiled when asked (only then is ``tiling`` passed: VAEs without tiling keep working)."""
    return vae.encode(video) if tiling is None else vae.encode(video, tiling=tiling)


def _encode_pose(vae, stream, tiling) -> torch.Tensor:
    if isinstance(stream, torch.Tensor):
        return _encode(vae, stream.unsqueeze(0), tiling)
    if not hasattr(vae, "encode_chunks"):  # a VAE that encodes whole videos only (e.g. ComfyUI's own)
        return _encode(vae, stream.load().unsqueeze(0), tiling)
    # A ``PoseFrames`` (a long clip): read and encoded a chunk at a time, never whole in memory.
    return vae.encode_chunks(stream.chunks(), tiling)


def pose_latents(vae, streams: list, signature: ModelSignature, tiling=None) -> torch.Tensor:
    """Normalised VAE latents of each pose video (3, F, H, W in [-1, 1], or ``PoseFrames`` read chunk by chunk),
    concatenated on channels in order."""
    if len(streams) != signature.pose_streams:
        names = "SMPL-CS + hands" + (" + DWPose" if signature.pose_streams == 3 else "")
        raise InputError(
            f"this model's pose patchifier takes {signature.pose_streams} pose videos ({names}), got {len(streams)}"
        )
    shapes = {tuple(s.shape) for s in streams}
    if len(shapes) != 1:
        raise InputError(f"the pose videos must have the same frame count and size, got shapes {sorted(shapes)}")
    return torch.cat([_encode_pose(vae, s, tiling) for s in streams], dim=1)


GREY_CHUNK_FRAMES = 16


def _grey_chunks(num_frames: int, height: int, width: int):
    for start in range(0, num_frames, GREY_CHUNK_FRAMES):
        yield torch.zeros(1, 3, min(GREY_CHUNK_FRAMES, num_frames - start), height, width)


def grey_video_condition(
    vae, num_frames: int, height: int, width: int, tiling=None, stream: bool = False
) -> torch.Tensor:
    """The I2V condition of the release: zero mask + latent of a mid-grey (0 in [-1, 1]) video; ``stream`` encodes
    it a chunk at a time (a long clip's grey video in float32 would be as large as a pose video)."""
    if stream and hasattr(vae, "encode_chunks"):
        grey = vae.encode_chunks(_grey_chunks(num_frames, height, width), tiling)
    else:
        grey = _encode(vae, torch.zeros(1, 3, num_frames, height, width), tiling)
    mask = torch.zeros(1, I2V_MASK_CHANNELS, *grey.shape[2:], dtype=grey.dtype)
    return torch.cat([mask, grey], dim=1)


def build_conditions(
    prepared,
    vae,
    signature: ModelSignature,
    text: torch.Tensor,
    negative_text: torch.Tensor,
    clip_encoder=None,
    dwpose: torch.Tensor | None = None,
    tiling=None,
    grey_frames: int | None = None,
) -> Conditions:
    """All DiT conditions from preprocessed inputs (``PreparedInputs``) and text embeddings (1, 512, D).

    ``tiling`` (a ``VaeTiling``) encodes the pose and grey videos in spatial tiles, to fit a smaller device; the
    one-frame reference images are always encoded whole. ``grey_frames`` (video frames, 4k+1) shortens the grey
    video's latent for windowed sampling, which only ever reads one window's worth from its start (the causal VAE
    makes a short grey video's latent exactly the first frames of a long one's).
    """
    if text.shape[-1] != signature.text_dim or negative_text.shape[-1] != signature.text_dim:
        raise InputError(
            f"text embeddings have {text.shape[-1]} channels but the model takes {signature.text_dim}: "
            f"the text encoder does not belong to this model (RealisDance-DiT uses umT5-XXL, 4096 channels)"
        )
    streams = [prepared.smpl, prepared.hamer] + ([dwpose] if dwpose is not None else [])
    pose = pose_latents(vae, streams, signature, tiling)
    image_condition = None
    clip_positive = clip_negative = None
    if signature.is_i2v:
        if clip_encoder is None:
            raise InputError("this I2V model needs the CLIP vision encoder (image_encoder/) for the reference image")
        frames = prepared.num_frames if grey_frames is None else min(grey_frames, prepared.num_frames)
        streamed = not isinstance(prepared.smpl, torch.Tensor)  # a long clip: its poses are read chunk by chunk too
        image_condition = grey_video_condition(vae, frames, prepared.height, prepared.width, tiling, streamed)
        raw = prepared.reference_raw.unsqueeze(0)
        clip_positive = clip_encoder.encode(raw)
        clip_negative = clip_encoder.encode(torch.zeros_like(raw))
        if clip_positive.shape[-1] != signature.image_dim:
            raise InputError(
                f"CLIP features have {clip_positive.shape[-1]} channels but the model takes {signature.image_dim}: "
                "use the release's image_encoder (CLIP ViT-H/14)"
            )
    reference = prepared.reference.unsqueeze(0)
    return Conditions(
        pose=pose,
        image_condition=image_condition,
        positive=Branch(text, clip_positive, vae.encode_image(reference)),
        negative=Branch(negative_text, clip_negative, vae.encode_image(torch.zeros_like(reference))),
        signature=signature,
        num_frames=prepared.num_frames,
        height=prepared.height,
        width=prepared.width,
    )
