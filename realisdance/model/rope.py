"""Shifted 3-axis RoPE of RealisDance-DiT.

Wan rotates each attention head by three angles, one per axis (frame, height, width), with the head's
128 channels split 44/42/42 (22/21/21 complex pairs). Video token (f, i, j) sits at position (f, i, j), exactly as
in Wan. Reference token (0, i, j) sits at (S_f, i + H, j + W) where H, W are the VIDEO token-grid height and
width and S_f = 81; each shift is applied only when its flag is on. The reference thus lives "below-right" of the
video in position space and never collides with it.

Tables are computed in float64 and cast to float32, the format diffusers' Wan attention processor consumes:
``(cos, sin)`` of shape (1, L, 1, head_dim) with each angle repeated for the two channels of its pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError

FRAME_SHIFT = 81  # the official ``shift_f_size``: a latent-frame index far past any video (T <= 21 at 81 frames)


@dataclass(frozen=True)
class RopeShift:
    """Which axes of the reference tokens are shifted (the ``shift_f/h/w`` config flags)."""

    frame: bool = False
    height: bool = True
    width: bool = True


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Channels per axis (frame, height, width): 44/42/42 for head_dim 128, as in Wan."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def grid_positions(frames: int, height: int, width: int, offset=(0, 0, 0), device=None) -> torch.Tensor:
    """(frames*height*width, 3) integer positions of a token grid in (f, i, j) raster order, plus ``offset``."""
    f = torch.arange(frames, device=device) + offset[0]
    i = torch.arange(height, device=device) + offset[1]
    j = torch.arange(width, device=device) + offset[2]
    grid = torch.stack(torch.meshgrid(f, i, j, indexing="ij"), dim=-1)
    return grid.reshape(-1, 3)


def reference_offset(video_grid: tuple[int, int, int], shift: RopeShift) -> tuple[int, int, int]:
    """Position offset of the reference tokens: (81, H, W) with each term kept only when its flag is on."""
    _, height, width = video_grid
    return (FRAME_SHIFT if shift.frame else 0, height if shift.height else 0, width if shift.width else 0)


def joint_positions(video_grid, reference_grid, shift: RopeShift, device=None) -> torch.Tensor:
    """Positions of the joint sequence [video tokens | reference tokens], shape (L_v + L_r, 3)."""
    video = grid_positions(*video_grid, device=device)
    if reference_grid is None:
        return video
    reference = grid_positions(*reference_grid, offset=reference_offset(video_grid, shift), device=device)
    return torch.cat([video, reference], dim=0)


class ShiftedRotaryEmbedding(torch.nn.Module):
    """Computes the (cos, sin) tables for a joint sequence of video and reference tokens.

    It holds no state-dict entries (tables are cached per device), so a model built on the meta device needs no
    special handling for it.
    """

    def __init__(
        self, head_dim: int, max_positions: int = 1024, theta: float = 10000.0, shift: RopeShift = RopeShift()
    ):
        super().__init__()
        self.head_dim = head_dim
        self.max_positions = max_positions
        self.theta = theta
        self.shift = shift
        self._tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}
        # Sampling calls the model with the same grids at every step (twice with CFG): keep the last result.
        self._last: tuple[tuple, tuple[torch.Tensor, torch.Tensor]] | None = None

    def _axis_angles(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if device not in self._tables:
            tables = []
            positions = torch.arange(self.max_positions, dtype=torch.float64)
            for dim in axis_dims(self.head_dim):
                omega = self.theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
                tables.append(torch.outer(positions, omega).to(device))  # (max_positions, dim/2), float64
            self._tables[device] = tuple(tables)
        return self._tables[device]

    def check_limits(self, positions: torch.Tensor, video_grid, reference_grid) -> None:
        highest = int(positions.max()) if positions.numel() else 0
        if highest >= self.max_positions:
            raise InputError(
                f"RoPE position {highest} is past the model's table of {self.max_positions} positions "
                f"(video token grid {tuple(video_grid)}, reference token grid "
                f"{None if reference_grid is None else tuple(reference_grid)}). The video height plus the reference "
                f"height (and likewise the widths) must stay below {self.max_positions * 16} pixels: use a smaller "
                f"output size or reference image."
            )

    def forward(self, video_grid, reference_grid=None, device=None, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each (1, tokens + pad, 1, head_dim); ``pad`` identity rotations (cos 1, sin 0) at the end, for
        the padding tokens of a sequence split between processes (they are masked out of attention)."""
        device = torch.device(device or "cpu")
        key = (tuple(video_grid), None if reference_grid is None else tuple(reference_grid), self.shift, device, pad)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        positions = joint_positions(video_grid, reference_grid, self.shift, device=device)
        self.check_limits(positions, video_grid, reference_grid)
        angles = torch.cat([table[positions[:, axis]] for axis, table in enumerate(self._axis_angles(device))], -1)
        angles = angles.repeat_interleave(2, dim=-1)  # one angle per channel of each (2j, 2j+1) pair
        if pad:
            angles = torch.cat([angles, angles.new_zeros(pad, angles.shape[1])])
        cos = angles.cos().float()[None, :, None, :]
        sin = angles.sin().float()[None, :, None, :]
        self._last = (key, (cos, sin))
        return cos, sin
