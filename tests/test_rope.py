"""Shifted RoPE: Wan's own angles for video tokens, exact shifted positions for reference tokens, table limits."""

from __future__ import annotations

import itertools

import pytest
import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
from reference_impl import complex_rotary, token_positions

from realisdance.errors import InputError
from realisdance.model.rope import RopeShift, ShiftedRotaryEmbedding, joint_positions


@pytest.mark.parametrize("grid", [(1, 1, 1), (3, 4, 6), (21, 36, 64)])
def test_video_token_angles_equal_wan(grid):
    wan = WanRotaryPosEmbed(attention_head_dim=128, patch_size=(1, 2, 2), max_seq_len=1024)
    latent = torch.zeros(1, 16, grid[0], grid[1] * 2, grid[2] * 2)
    wan_cos, wan_sin = wan(latent)
    cos, sin = ShiftedRotaryEmbedding(128)(grid)
    assert cos.shape == wan_cos.shape == (1, grid[0] * grid[1] * grid[2], 1, 128)
    torch.testing.assert_close(cos, wan_cos, rtol=0, atol=0)
    torch.testing.assert_close(sin, wan_sin, rtol=0, atol=0)


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=3)))
def test_reference_tokens_carry_the_shifted_positions(flags):
    shift_f, shift_h, shift_w = flags
    video_grid, reference_grid = (2, 4, 6), (1, 5, 3)  # a reference of another aspect ratio than the video
    positions = joint_positions(video_grid, reference_grid, RopeShift(*flags))
    video_len = 2 * 4 * 6
    expected_reference = [(81 * shift_f, i + 4 * shift_h, j + 6 * shift_w) for i in range(5) for j in range(3)]
    assert [tuple(p) for p in positions[video_len:].tolist()] == expected_reference
    assert [tuple(p) for p in positions[:video_len].tolist()] == list(itertools.product(range(2), range(4), range(6)))

    cos, sin = ShiftedRotaryEmbedding(128, shift=RopeShift(*flags))(video_grid, reference_grid)
    expected = complex_rotary(token_positions(video_grid, reference_grid, *flags))  # independent complex table
    expected = torch.view_as_real(expected).float()  # (L, 64, 2): cos, sin per pair
    torch.testing.assert_close(cos[0, :, 0, 0::2], expected[..., 0], rtol=0, atol=1e-7)
    torch.testing.assert_close(sin[0, :, 0, 1::2], expected[..., 1], rtol=0, atol=1e-7)


def test_positions_past_the_table_are_refused_with_a_clear_error():
    rope = ShiftedRotaryEmbedding(128, max_positions=1024)
    rope((1, 1000, 8), (1, 20, 8))  # 1000 + 20 = 1020 positions high: fits
    with pytest.raises(InputError, match="past the model's table of 1024 positions"):
        rope((1, 1000, 8), (1, 30, 8))
