"""The size of a job as the memory planner sees it: frames, pixels, tokens, CFG forwards."""

from __future__ import annotations

from dataclasses import dataclass

from ..wan_constants import TOKEN_PIXELS, VAE_SPATIAL, VAE_TEMPORAL  # noqa: F401 (re-exported)

GIB = 1024**3


def gib(num_bytes: float) -> str:
    return f"{num_bytes / GIB:.2f} GiB"


@dataclass(frozen=True)
class JobSize:
    """One generation: ``num_frames`` at ``height`` x ``width``; the reference defaults to the video's area."""

    num_frames: int = 81
    height: int = 576
    width: int = 1024
    reference_height: int | None = None
    reference_width: int | None = None
    guidance: float = 2.0
    clip_frames: int | None = None  # the whole clip, when it runs in windows of num_frames (None: one window)

    @property
    def latent_frames(self) -> int:
        """Latent frames of one DiT forward (one window)."""
        return (self.num_frames - 1) // VAE_TEMPORAL + 1

    @property
    def clip_latent_frames(self) -> int:
        """Latent frames of the whole clip: what the sampler's state and the VAE decode hold."""
        return (max(self.clip_frames or 0, self.num_frames) - 1) // VAE_TEMPORAL + 1

    @property
    def latent_height(self) -> int:
        return self.height // VAE_SPATIAL

    @property
    def latent_width(self) -> int:
        return self.width // VAE_SPATIAL

    @property
    def video_tokens(self) -> int:
        return self.latent_frames * (self.height // TOKEN_PIXELS) * (self.width // TOKEN_PIXELS)

    @property
    def reference_tokens(self) -> int:
        height = self.reference_height or self.height
        width = self.reference_width or self.width
        return (height // TOKEN_PIXELS) * (width // TOKEN_PIXELS)

    @property
    def tokens(self) -> int:
        return self.video_tokens + self.reference_tokens

    def describe(self) -> str:
        frames = f"{self.num_frames} frames"
        if self.clip_frames and self.clip_frames > self.num_frames:
            frames = f"{self.clip_frames} frames in windows of {self.num_frames}"
        return f"{frames} at {self.width}x{self.height} ({self.tokens:,} tokens per forward)"
