"""Option objects of the Python API: what one video is made with, and where each component is loaded from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..arguments import check_guidance, check_seed, check_steps
from ..caching import StepCacheSettings
from ..errors import InputError
from .preprocess import DEFAULT_MAX_AREA, DEFAULT_NUM_FRAMES
from .window_sampling import DEFAULT_SCHEME, SCHEMES
from .windows import DEFAULT_OVERLAP_FRAMES, DEFAULT_WINDOW_FRAMES, check_window, latent_frames_of


@dataclass(frozen=True)
class GenerationSettings:
    """One video's numbers, with the release's defaults (81 frames, 576x1024 area, 40 steps, CFG 2, seed 1024)."""

    num_frames: int = DEFAULT_NUM_FRAMES
    max_area: int = DEFAULT_MAX_AREA
    steps: int = 40
    guidance: float = 2.0
    seed: int = 1024
    pose_fps: float | None = None  # the pose videos' frame rate when they come as arrays (files carry their own)
    cache: StepCacheSettings | None = None  # a step cache (TeaCache as the release, MagCache, ...); None: off
    # Longer clips run in windows of this many video frames (4k+1; 81 = the model's native length) sharing at least
    # ``window_overlap`` frames (a multiple of 4), blended every step; None: the whole clip in one window.
    window: int | None = DEFAULT_WINDOW_FRAMES
    window_overlap: int = DEFAULT_OVERLAP_FRAMES
    window_scheme: str = DEFAULT_SCHEME  # "average" (blended every step) or "continue" (window after window)

    def __post_init__(self) -> None:
        # Checked (and normalised, e.g. 40.0 -> 40) here, before any frame is read or any encoder runs.
        object.__setattr__(self, "steps", check_steps(self.steps))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "guidance", check_guidance(self.guidance))
        if self.window is not None:
            check_window(self.window, self.window_overlap)
        if self.window_scheme not in SCHEMES:
            raise InputError(f"the window scheme must be one of {', '.join(SCHEMES)}; got {self.window_scheme!r}")

    def sampler_windows(self) -> dict:
        """The window settings of ``SamplerSettings`` (latent frames)."""
        if self.window is None:
            return {"window": None}
        return {
            "window": latent_frames_of(self.window),
            "window_overlap": self.window_overlap // 4,
            "window_scheme": self.window_scheme,
        }

    @property
    def windowed(self) -> bool:
        """The clip is longer than one window: poses are streamed and the grey condition is one window long."""
        return self.window is not None and self.num_frames > self.window

    def planned_frames(self) -> int:
        """The frames one DiT forward sees: the memory plan's job length."""
        return self.num_frames if self.window is None else min(self.num_frames, self.window)

    def with_overrides(self, overrides: dict) -> GenerationSettings:
        """These settings with some fields replaced by keyword arguments; an unknown name is refused."""
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(
                f"unknown setting {', '.join(map(repr, unknown))}; the settings are {', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **overrides) if overrides else self


@dataclass(frozen=True)
class ComponentPaths:
    """Components loaded from their own files or folders instead of the release folder (None: from the release)."""

    transformer: str | Path | None = None
    vae: str | Path | None = None
    text_encoder: str | Path | None = None
    image_encoder: str | Path | None = None

    @property
    def encoders_from_release(self) -> bool:
        return self.vae is None and self.text_encoder is None and self.image_encoder is None
