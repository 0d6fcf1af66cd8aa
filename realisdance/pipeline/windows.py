"""Where the windows of a long video lie, and how their overlaps blend (issue 14: any length of driving motion).

The DiT is run on windows of its native length (21 latent frames = 81 video frames by default), so the RoPE frame
positions inside each window are the ones it was trained on. Consecutive windows share ``overlap`` latent frames;
as few windows as keep each overlap at least that long are spread evenly from the first frame to a last window
ending on the last frame (no window is short, the overlaps are equal give or take a frame).
In an overlap the two windows' predictions are blended with linear ramps (a frame nearer a window's middle trusts
that window more); every latent frame's weights sum to one, so a frame inside one window takes that window's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

DEFAULT_WINDOW = 21  # latent frames: the release's 81 video frames
DEFAULT_OVERLAP = 5  # latent frames (17 video frames) shared by consecutive windows


DEFAULT_WINDOW_FRAMES = 4 * (DEFAULT_WINDOW - 1) + 1  # 81
DEFAULT_OVERLAP_FRAMES = 4 * DEFAULT_OVERLAP  # 20


def check_window(window_frames: int, overlap_frames: int) -> None:
    """Refuse window settings in video frames that windows of whole latent frames cannot hold."""
    if (
        isinstance(window_frames, bool)
        or not isinstance(window_frames, int)
        or window_frames < 5
        or (window_frames - 1) % 4
    ):
        raise InputError(
            f"the window must be 4k+1 video frames, at least 5 (81 = the model's length); got {window_frames!r}"
        )
    if (
        isinstance(overlap_frames, bool)
        or not isinstance(overlap_frames, int)
        or overlap_frames < 0
        or overlap_frames % 4
    ):
        raise InputError(f"the window overlap must be a multiple of 4 video frames (e.g. 20); got {overlap_frames!r}")
    if overlap_frames >= window_frames - 1:
        raise InputError(
            f"the window overlap ({overlap_frames} frames) must be shorter than the window ({window_frames})"
        )


def latent_frames_of(video_frames: int) -> int:
    """The Wan VAE's temporal compression: 4k+1 video frames -> k+1 latent frames."""
    return (video_frames - 1) // 4 + 1


@dataclass(frozen=True)
class WindowPlan:
    latent_frames: int
    window: int = DEFAULT_WINDOW
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.latent_frames < 1:
            raise InputError(f"a video needs at least one latent frame, got {self.latent_frames}")
        if self.window < 2:
            raise InputError(f"a window needs at least 2 latent frames (5 video frames), got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise InputError(
                f"the window overlap ({self.overlap} latent frames) must be at least 0 and less than the window "
                f"({self.window})"
            )

    @property
    def stride(self) -> int:
        return self.window - self.overlap

    def starts(self) -> list[int]:
        """First latent frame of each window; one window (at 0) when the video fits in one."""
        if self.latent_frames <= self.window:
            return [0]
        # As few windows as keep every overlap at least ``overlap`` frames, spread evenly from the first frame to
        # the last window ending on the last frame (so the overlaps are equal, give or take a frame).
        count = math.ceil((self.latent_frames - self.overlap) / self.stride)
        span = self.latent_frames - self.window
        return [round(index * span / (count - 1)) for index in range(count)]

    def windows(self) -> list[range]:
        length = min(self.window, self.latent_frames)
        return [range(start, start + length) for start in self.starts()]

    def weights(self):
        """(windows, latent_frames) float64 tensor of blend weights: 0 outside a window, columns summing to 1."""
        import torch  # here, so the command line can read the window defaults without loading torch

        windows = self.windows()
        raw = torch.zeros(len(windows), self.latent_frames, dtype=torch.float64)
        for index, frames in enumerate(windows):
            position = torch.arange(len(frames), dtype=torch.float64)
            # A ramp up from the window's first frame and down to its last, flat in the middle: distance to the
            # nearer end, plus one so an end frame that only this window covers still counts.
            raw[index, frames.start : frames.stop] = torch.minimum(position, len(frames) - 1 - position) + 1
        return raw / raw.sum(0, keepdim=True)

    def describe(self) -> str:
        windows = self.windows()
        if len(windows) == 1:
            return f"one window of {len(windows[0])} latent frames"
        return (
            f"{len(windows)} windows of {self.window} latent frames ({4 * (self.window - 1) + 1} video frames), "
            f"{self.overlap} shared by neighbours, starting at latent frames {', '.join(map(str, self.starts()))}"
        )


def describe_windows(plan: WindowPlan, steps: int, guidance: float, scheme: str) -> str:
    """What a windowed sampling costs, for the printed plan: the windows, the DiT forwards (each one window long, so
    each costs what one forward of a window-long clip costs and the memory plan's peak is per window), and the time
    against one window-long clip."""
    windows = len(plan.windows())
    forwards = windows * steps * (2 if guidance > 1.0 else 1)
    how = "blended at every step" if scheme == "average" else "one after the other, each continuing the last"
    return (
        f"sampling in windows ({scheme}): {plan.describe()}; {how}; {forwards} window forwards, about {windows}x the "
        "time of one window-long clip; the memory plan above is per window (the clip's latents stay in host RAM)"
    )
