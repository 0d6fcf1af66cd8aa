"""The VAE a few frames at a time (long videos): chunked encode / decode equal the whole-video ones, tiled or not,
and a pose video read chunk by chunk gives the latents of the pose video read whole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realisdance.encoders.vae import VideoVAE
from realisdance.encoders.vae_tiling import VaeTiling
from realisdance.errors import InputError
from realisdance.pipeline.conditions import grey_video_condition
from realisdance.pipeline.preprocess import PoseFrames, prepare_inputs
from realisdance.tiny import TINY_VAE

TILING = VaeTiling(tile=48, overlap=24)  # three tiles across the 64x96 video (8x12 latent)
EXACT = {"rtol": 1e-5, "atol": 1e-6}  # chunking changes no operation; only a 1x1 conv runs per chunk, not whole


@pytest.fixture(scope="module")
def vae():
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    return VideoVAE(AutoencoderKLWan(**TINY_VAE))


@pytest.fixture(scope="module")
def video():
    return torch.rand(1, 3, 13, 64, 96, generator=torch.Generator().manual_seed(2)) * 2 - 1


def _chunks(video, sizes):
    start = 0
    for size in sizes:
        yield video[:, :, start : start + size]
        start += size
    assert start == video.shape[2]


@pytest.mark.parametrize("tiling", [None, TILING], ids=["untiled", "tiled"])
@pytest.mark.parametrize("sizes", [(13,), (1, 4, 4, 4), (3, 7, 3), (6, 6, 1)], ids=str)
def test_an_encode_fed_in_chunks_of_any_length_equals_the_whole_encode(vae, video, tiling, sizes):
    whole = vae.encode(video, tiling)
    chunked = vae.encode_chunks(_chunks(video, sizes), tiling)
    assert chunked.device.type == "cpu"
    torch.testing.assert_close(chunked, whole, **EXACT)


def test_a_chunked_encode_of_a_video_that_is_not_4k_plus_1_frames_is_refused(vae, video):
    with pytest.raises(InputError, match="4k\\+1 frames"):
        vae.encode_chunks(_chunks(video[:, :, :11], (5, 6)))


@pytest.mark.parametrize("tiling", [None, TILING], ids=["untiled", "tiled"])
@pytest.mark.parametrize("per_chunk", [1, 2, 4])
def test_a_decode_in_chunks_yields_the_whole_decodes_frames(vae, tiling, per_chunk):
    latents = torch.randn(1, 16, 5, 8, 12, generator=torch.Generator().manual_seed(3))
    whole = vae.decode(latents, tiling)[0].permute(1, 2, 3, 0)
    pieces = list(vae.decode_chunks(latents, tiling, latent_frames_per_chunk=per_chunk))
    assert [piece.shape[0] for piece in pieces][0] == 1 + 4 * (min(per_chunk, 5) - 1)
    torch.testing.assert_close(torch.cat(pieces), whole, **EXACT)


def test_a_short_grey_condition_is_the_start_of_a_long_one(vae):
    # Windowed sampling encodes the grey video one window long: the causal VAE makes that the long one's start.
    long = grey_video_condition(vae, 13, 64, 96)
    short = grey_video_condition(vae, 5, 64, 96)
    torch.testing.assert_close(short, long[:, :, :2], **EXACT)


def test_streamed_pose_videos_encode_to_the_latents_of_the_loaded_ones(vae, tmp_path):
    from realisdance.video import write_video

    rng = np.random.default_rng(0)
    frames = (rng.random((30, 72, 108, 3)) * 255).astype(np.uint8)
    smpl, hamer = tmp_path / "smpl.mp4", tmp_path / "hamer.mp4"
    write_video(smpl, frames, fps=24)
    write_video(hamer, frames[::-1].copy(), fps=24)
    reference = (rng.random((80, 60, 3)) * 255).astype(np.uint8)
    loaded = prepare_inputs(reference, smpl, hamer, num_frames=17, max_area=64 * 96)
    streamed = prepare_inputs(reference, smpl, hamer, num_frames=17, max_area=64 * 96, stream_poses=True)
    assert isinstance(streamed.smpl, PoseFrames) and streamed.smpl.shape == tuple(loaded.smpl.shape)
    torch.testing.assert_close(streamed.smpl.load(), loaded.smpl, rtol=0, atol=0)
    for which in ("smpl", "hamer"):
        chunks = list(getattr(streamed, which).chunks(frames_per_chunk=5))
        assert [chunk.shape[2] for chunk in chunks] == [5, 5, 5, 2]
        torch.testing.assert_close(torch.cat(chunks, dim=2)[0], getattr(loaded, which), rtol=0, atol=0)
        whole = vae.encode(getattr(loaded, which).unsqueeze(0))
        torch.testing.assert_close(vae.encode_chunks(getattr(streamed, which).chunks()), whole, **EXACT)


def test_a_streamed_pose_video_with_nan_is_refused_as_it_is_read():
    frames = torch.rand(9, 32, 48, 3)
    frames[6, 3, 4, 1] = float("nan")
    reference = torch.rand(1, 32, 48, 3)
    streamed = prepare_inputs(reference[0], frames, frames.clone(), num_frames=9, max_area=32 * 48, stream_poses=True)
    with pytest.raises(InputError, match="SMPL-CS pose video holds NaN"):
        list(streamed.smpl.chunks(frames_per_chunk=4))
