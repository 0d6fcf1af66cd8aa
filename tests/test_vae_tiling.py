"""Tiled Wan VAE encode/decode: agreement with the untiled path, validation, no leftover state, memory planning.

The VAE is the real ``AutoencoderKLWan`` structure (Wan 2.1 config of ``realisdance.tiny``, random weights). Random
weights have no locality (every output pixel depends on the whole frame, the mid-block attention is global), so
seams are far larger than with trained weights; the stated tolerance below is for this random VAE. Its last
convolution is scaled down so decoded values stay inside [-1, 1]: the tiler blends BEFORE clamping (as diffusers'
tiled decode does), and an unclamped output lets the per-tile reference below be compared exactly.
"""

from __future__ import annotations

import pytest
import torch

from realisdance.encoders.vae import VideoVAE
from realisdance.encoders.vae_tiles import tile_spans
from realisdance.encoders.vae_tiling import (
    MIN_CHOSEN_TILE,
    VaeTiling,
    choose_tiling,
    decode_peak_bytes,
)
from realisdance.errors import InputError
from realisdance.tiny import TINY_VAE

# Stated tolerance on the [0, 1] output of this random tiny VAE, 64x96 px video, 64 px tiles overlapping by 24 px.
DECODE_MEAN_TOLERANCE = 0.02
DECODE_MAX_TOLERANCE = 0.2
ENCODE_MEAN_TOLERANCE = 0.02  # on normalised latents (std about 0.4 here), 48 px tiles overlapping by 24 px
TILING = VaeTiling(tile=64, overlap=24)  # two tiles side by side on the 8x12 latent


@pytest.fixture(scope="module")
def vae():
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    model = AutoencoderKLWan(**TINY_VAE)
    with torch.no_grad():
        model.decoder.conv_out.weight.mul_(0.25)
        model.decoder.conv_out.bias.mul_(0.25)
    return VideoVAE(model)


@pytest.fixture(scope="module")
def latents():
    return torch.randn(1, 16, 2, 8, 12, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def untiled(vae, latents):
    video = vae.decode(latents)
    assert 0 < video.min() and video.max() < 1  # nothing clamped (see the module docstring)
    return video


@pytest.fixture(scope="module")
def tiled(vae, latents):
    return vae.decode(latents, TILING)


def _tiling_state(module) -> dict:
    return {key: value for key, value in vars(module).items() if key.startswith(("use_", "tile_", "_feat", "_enc"))}


# -- validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tile", "overlap", "message"),
    [
        (100, 16, "multiple of 8"),
        (8, 0, "at least 16"),
        (256, 60, "multiple of 8"),
        (256, -8, "multiple of 8"),
        (64, 64, "smaller than the tile"),
        (64, 96, "smaller than the tile"),
        (64.0, 16, "whole number"),
        (True, 0, "whole number"),
    ],
)
def test_tiling_rejects_bad_sizes_with_a_clear_message(tile, overlap, message):
    with pytest.raises(InputError, match=message):
        VaeTiling(tile, overlap)


def test_tile_spans_cover_evenly_with_at_least_the_overlap():
    for size, tile, overlap in [(72, 32, 8), (128, 32, 8), (20, 8, 2), (10, 8, 7), (9, 8, 0), (5, 8, 2)]:
        spans = tile_spans(size, tile, overlap)
        covered = torch.zeros(size, dtype=torch.int64)
        for start, length in spans:
            assert 0 <= start and start + length <= size and length == min(tile, size)
            covered[start : start + length] += 1
        assert covered.min() >= 1
        assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == size
        for (a, la), (b, _) in zip(spans, spans[1:], strict=False):
            assert a + la - b >= overlap  # neighbours share at least the requested overlap


# -- decode ----------------------------------------------------------------------------------------------------


def test_one_tile_covering_the_frame_is_exactly_the_untiled_decode(vae, latents, untiled):
    whole = vae.decode(latents, VaeTiling(tile=256, overlap=64))  # frame is 64x96
    assert whole.shape == untiled.shape == (1, 3, 5, 64, 96)
    torch.testing.assert_close(whole, untiled, rtol=0, atol=1e-6)


def test_tiled_decode_matches_untiled_within_the_stated_tolerance(untiled, tiled):
    difference = (tiled - untiled).abs()
    assert tiled.shape == untiled.shape
    assert difference.mean() < DECODE_MEAN_TOLERANCE
    assert difference.max() < DECODE_MAX_TOLERANCE
    assert difference.max() > 0  # two tiles really ran (random weights see across the seam)


def _reference_tiled_decode(vae, latents, tile_latent, overlap_latent):
    """Independent check of the tiler: each tile through diffusers' own UNTILED decode, blended by explicit ramps."""
    raw = vae.denormalize(latents)
    _, _, frames, height, width = raw.shape
    out = torch.zeros(1, 3, 1 + 4 * (frames - 1), 8 * height, 8 * width, dtype=torch.float64)
    total = torch.zeros(8 * height, 8 * width, dtype=torch.float64)
    rows = tile_spans(height, tile_latent, overlap_latent)
    cols = tile_spans(width, tile_latent, overlap_latent)

    def weight_1d(spans, index):
        start, length = spans[index]
        weights = []
        for p in range(8 * start, 8 * (start + length)):
            w = 1.0
            if index > 0:  # ramp up across the overlap with the previous tile
                lo, hi = 8 * spans[index][0], 8 * (spans[index - 1][0] + spans[index - 1][1])
                if p < hi:
                    w *= (p - lo + 0.5) / (hi - lo)
            if index + 1 < len(spans):  # ramp down across the overlap with the next tile
                lo, hi = 8 * spans[index + 1][0], 8 * (start + length)
                if p >= lo:
                    w *= 1.0 - (p - lo + 0.5) / (hi - lo)
            weights.append(w)
        return torch.tensor(weights, dtype=torch.float64)

    with torch.no_grad():
        for i, (y, h) in enumerate(rows):
            for j, (x, w) in enumerate(cols):
                tile = vae.vae.decode(raw[:, :, :, y : y + h, x : x + w]).sample.double()
                weight = weight_1d(rows, i)[:, None] * weight_1d(cols, j)[None, :]
                out[:, :, :, 8 * y : 8 * (y + h), 8 * x : 8 * (x + w)] += tile * weight
                total[8 * y : 8 * (y + h), 8 * x : 8 * (x + w)] += weight
    return ((out / total).clamp(-1, 1) + 1) / 2


def test_tiled_decode_equals_per_tile_untiled_decodes_blended(vae, latents, tiled):
    reference = _reference_tiled_decode(vae, latents, TILING.latent_tile, TILING.latent_overlap)
    torch.testing.assert_close(tiled.double(), reference, rtol=0, atol=2e-5)


def test_untiled_decode_is_unchanged(vae, latents, untiled):
    """tiling=None is the release path: diffusers' decode, clamped and mapped to [0, 1]."""
    raw = vae.denormalize(latents)
    with torch.no_grad():
        expected = (vae.vae.decode(raw).sample.clamp(-1, 1) + 1) / 2
    assert torch.equal(untiled, expected)
    assert torch.equal(vae.decode(latents, None), untiled)


def test_tiling_leaves_no_state_on_the_shared_module(vae, latents, untiled):
    before = _tiling_state(vae.vae)
    vae.decode(latents[:, :, :1], TILING)
    vae.encode(torch.zeros(1, 3, 1, 64, 96), VaeTiling(tile=48, overlap=16))
    assert _tiling_state(vae.vae) == before
    assert vae.vae.use_tiling is False
    assert torch.equal(vae.decode(latents), untiled)


# -- encode ----------------------------------------------------------------------------------------------------


def test_tiled_encode_matches_untiled(vae):
    video = torch.rand(1, 3, 5, 64, 96, generator=torch.Generator().manual_seed(2)) * 2 - 1
    untiled = vae.encode(video)
    assert torch.equal(vae.encode(video, VaeTiling(tile=256, overlap=0)), untiled)  # one tile: identical
    tiled = vae.encode(video, VaeTiling(tile=48, overlap=24))
    assert tiled.shape == untiled.shape == (1, 16, 2, 8, 12)
    assert (tiled - untiled).abs().mean() < ENCODE_MEAN_TOLERANCE
    # Seams must matter less with more overlap than with none (the blend does something).
    hard = vae.encode(video, VaeTiling(tile=48, overlap=0))
    assert (tiled - untiled).abs().mean() < (hard - untiled).abs().mean()


# -- memory planning -------------------------------------------------------------------------------------------


def test_decode_peak_is_flat_in_frames_beyond_the_result_when_tiled():
    tiling = VaeTiling(256, 64)
    for frames in (2, 21, 41, 81):
        result = 3 * (1 + 4 * (frames - 1)) * 576 * 1024 * 4
        latents = 2 * 16 * frames * 72 * 128 * 4
        working = decode_peak_bytes(frames, 576, 1024, tiling) - result - latents
        assert working == decode_peak_bytes(2, 576, 1024, tiling) - 3 * 5 * 576 * 1024 * 4 - 2 * 16 * 2 * 72 * 128 * 4


def test_decode_peak_is_monotonic():
    sizes = [(256, 256), (480, 832), (576, 1024), (720, 1280)]
    for tiling in (None, VaeTiling(128, 32), VaeTiling(256, 64)):
        by_frames = [decode_peak_bytes(f, 576, 1024, tiling) for f in (1, 2, 11, 21, 41)]
        assert by_frames == sorted(by_frames) and len(set(by_frames)) == len(by_frames)
        by_size = [decode_peak_bytes(21, h, w, tiling) for h, w in sizes]
        assert by_size == sorted(by_size)
    by_tile = [decode_peak_bytes(21, 576, 1024, VaeTiling(t, t // 4)) for t in (64, 128, 256, 512)]
    assert by_tile == sorted(by_tile)
    assert decode_peak_bytes(21, 576, 1024, VaeTiling(256, 64)) < decode_peak_bytes(21, 576, 1024, None) / 4
    assert decode_peak_bytes(21, 576, 1024, None, torch.bfloat16) < decode_peak_bytes(21, 576, 1024, None)


def test_choose_tiling_picks_untiled_then_the_largest_fitting_tile():
    gib = 2**30
    untiled_need = decode_peak_bytes(21, 576, 1024, None)
    assert choose_tiling(untiled_need, 21, 576, 1024) is None
    assert choose_tiling(64 * gib, 21, 576, 1024) is None
    for budget in (8 * gib, 4 * gib, 2 * gib):
        chosen = choose_tiling(budget, 21, 576, 1024)
        assert chosen is not None and decode_peak_bytes(21, 576, 1024, chosen) <= budget
        bigger = VaeTiling(chosen.tile + 32, (chosen.tile + 32) // 4 // 8 * 8)
        assert decode_peak_bytes(21, 576, 1024, bigger) > budget  # the largest that fits
    assert choose_tiling(2 * gib, 21, 576, 1024).tile < choose_tiling(8 * gib, 21, 576, 1024).tile


def test_choose_tiling_says_what_would_fit_when_nothing_does():
    smallest = decode_peak_bytes(41, 576, 1024, VaeTiling(MIN_CHOSEN_TILE, 16))
    with pytest.raises(InputError, match=r"at most \d+ latent frames") as error:
        choose_tiling(smallest - 2**20, 41, 576, 1024)
    assert "64 px tiles" in str(error.value)
    with pytest.raises(InputError, match="not even one frame"):
        choose_tiling(2**20, 41, 576, 1024)
