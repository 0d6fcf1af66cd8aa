"""Preprocessing of the release, checked on hand-computed cases (spec §3.3 and §10 items 1, 5, 6, 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from realisdance.errors import InputError
from realisdance.pipeline.preprocess import (
    check_frame_count,
    crop_window,
    frame_indices,
    load_pose_video,
    load_reference_image,
    output_size,
    pixels_to_signed,
    prepare_inputs,
    prepare_pose_pair,
    reference_size,
    resampled_length,
    resize_crop,
    resize_to_area,
)
from realisdance.video import read_video, write_video

DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "realisdance-demo"


# ---------------------------------------------------------------------------------------------------------------
# Frame counts and frame selection
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 5, 77, 81, 85, np.int64(81)])
def test_valid_frame_counts(count) -> None:
    assert check_frame_count(count) == count


def test_frame_count_error_says_what_to_use() -> None:
    with pytest.raises(InputError) as caught:
        check_frame_count(80)
    message = str(caught.value)
    assert "4k+1" in message and "got 80" in message and "Use 77 or 81" in message


@pytest.mark.parametrize("count", [0, -3, 2, 82, 81.0, True, "81"])
def test_invalid_frame_counts(count) -> None:
    with pytest.raises(InputError, match="4k\\+1"):
        check_frame_count(count)


def test_resampled_length_rounds_half_to_even() -> None:
    assert resampled_length(144, 24, 81) == 96  # the demo: 6 s at 16 fps
    assert resampled_length(30, 16, 81) == 81  # short clips are stretched to num_frames
    # 173 / 32 * 16 = 86.5 exactly: Python's round gives 86 (half-up would give 87); 87.5 -> 88.
    assert resampled_length(173, 32, 81) == 86
    assert resampled_length(175, 32, 81) == 88


def test_frame_indices_of_the_demo() -> None:
    # n = 96; idx = round(i * 143 / 95): 0, 1.505 -> 2, 3.011 -> 3, 4.516 -> 5, 6.021 -> 6, 7.526 -> 8, ...
    indices = frame_indices(144, 24, 81)
    assert len(indices) == 81
    assert indices[:10] == [0, 2, 3, 5, 6, 8, 9, 11, 12, 14]
    assert indices[-1] == 120  # 80 * 143 / 95 = 120.42: only the first ~5 s are used


def test_short_clip_is_stretched_by_repeating_frames() -> None:
    # 30 frames at 16 fps, 81 wanted: n = 81, idx = round(i * 29 / 80): 0, .36 -> 0, .73 -> 1, 1.09 -> 1, 1.45 -> 1, ...
    indices = frame_indices(30, 16, 81)
    assert len(indices) == 81
    assert indices[:12] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4]
    assert indices[-3:] == [28, 29, 29]
    assert sorted(set(indices)) == list(range(30))
    assert indices == sorted(indices)


def test_ties_in_linspace_round_half_to_even() -> None:
    # 4 frames at 64/7 fps: n = round(4 / (64/7) * 16) = 7 and linspace(0, 3, 7) = 0, .5, 1, 1.5, 2, 2.5, 3.
    # numpy's .round() (as the release) gives 0, 0, 1, 2, 2, 2, 3; half-up would give 0, 1, 1, 2, 2, 3, 3.
    assert frame_indices(4, 64 / 7, 5) == [0, 0, 1, 2, 2]


def test_16_fps_long_clip_takes_the_first_frames() -> None:
    assert frame_indices(100, 16, 81) == list(range(81))


def test_frame_indices_refuses_empty_or_rateless_clips() -> None:
    with pytest.raises(InputError, match="no frames"):
        frame_indices(0, 16, 81)
    with pytest.raises(InputError, match="frame rate"):
        frame_indices(10, 0, 81)


# ---------------------------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pose", "expected"),
    [
        ((1080, 1920), (576, 1024)),  # landscape demo: r = sqrt(589824 / 2073600) = 8/15
        ((1920, 1080), (1024, 576)),  # portrait
        ((1000, 1000), (768, 768)),  # square
        ((720, 1280), (576, 1024)),  # any 16:9
        ((1200, 900), (880, 672)),  # 3:4 -> r = 0.7390; 1200r/16 = 55.43 -> 55; 900r/16 = 41.57 -> 42
    ],
)
def test_output_size(pose, expected) -> None:
    assert output_size(*pose) == expected


def test_output_size_other_area() -> None:
    assert output_size(1080, 1920, max_area=512 * 896) == (512, 896)  # the paper's TikTok/UBC size


def test_output_size_refuses_degenerate_shapes() -> None:
    with pytest.raises(InputError, match="too elongated"):
        output_size(10, 10000, max_area=64 * 64)
    with pytest.raises(InputError, match="empty"):
        output_size(0, 100)


def test_reference_size_keeps_its_own_aspect_ratio() -> None:
    area = 576 * 1024
    assert reference_size(1080, 1920, area) == (576, 1024)
    assert reference_size(1920, 1080, area) == (1024, 576)  # a portrait reference for a landscape video stays portrait
    # 300x400: r = sqrt(589824 / 120000) = 2.2170; 300r/16 = 41.57 -> 42; 400r/16 = 55.43 -> 55.
    assert reference_size(300, 400, area) == (672, 880)


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ((4, 8), (4, 4), (4, 8, 0, 2)),  # wider: height fits, crop 2 columns each side
        ((6, 10), (4, 4), (4, 7, 0, 1)),  # 10 * 4/6 = 6.67 -> 7; excess 3 floors to a start of 1
        ((10, 6), (4, 4), (7, 4, 1, 0)),  # taller: width fits, crop rows
        ((8, 8), (4, 4), (4, 4, 0, 0)),  # same aspect: no crop
        ((4, 9), (2, 2), (2, 4, 0, 1)),  # 9 * 0.5 = 4.5 -> 4 (half to even), start int(2 / 2.0) = 1
    ],
)
def test_crop_window(source, target, expected) -> None:
    assert crop_window(*source, *target) == expected


# ---------------------------------------------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------------------------------------------


def test_resize_crop_without_scaling_is_an_exact_crop() -> None:
    video = torch.randn(3, 2, 4, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(resize_crop(video, 4, 4), video[..., 2:6])


def test_resize_crop_matches_hand_derived_window() -> None:
    video = torch.randn(3, 2, 6, 10, generator=torch.Generator().manual_seed(1))
    # Window from crop_window (6, 10) -> (4, 4): scale to 4x7, keep columns 1..4.
    frames = video.permute(1, 0, 2, 3)
    expected = F.interpolate(frames, size=(4, 7), mode="bicubic", align_corners=False)[..., 1:5].permute(1, 0, 2, 3)
    result = resize_crop(video, 4, 4)
    assert result.shape == (3, 2, 4, 4)
    assert torch.equal(result, expected)


def test_resize_crop_batched_equals_unbatched() -> None:
    videos = torch.randn(2, 3, 3, 9, 16, generator=torch.Generator().manual_seed(2))
    batched = resize_crop(videos, 16, 16)
    assert batched.shape == (2, 3, 3, 16, 16)
    for item in range(2):
        assert torch.equal(batched[item], resize_crop(videos[item], 16, 16))


def test_bicubic_is_not_clamped_and_not_antialiased() -> None:
    checkerboard = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0  # +-1
    image = checkerboard.expand(3, 8, 8)
    upscaled = resize_to_area(image, 32 * 32)
    assert upscaled.shape == (3, 32, 32)
    assert upscaled.max() > 1.0 and upscaled.min() < -1.0  # bicubic overshoot is kept, as in the release

    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    downscaled = resize_to_area(noise, 16 * 16)
    plain = F.interpolate(noise, size=(16, 16), mode="bicubic", align_corners=False)
    smoothed = F.interpolate(noise, size=(16, 16), mode="bicubic", align_corners=False, antialias=True)
    assert torch.equal(downscaled, plain) and not torch.allclose(downscaled, smoothed)


def test_resize_to_area_shapes() -> None:
    assert resize_to_area(torch.zeros(3, 300, 400), 576 * 1024).shape == (3, 672, 880)
    assert resize_to_area(torch.zeros(2, 3, 40, 30), 2048).shape == (2, 3, 48, 32)


# ---------------------------------------------------------------------------------------------------------------
# Pixels and reference image
# ---------------------------------------------------------------------------------------------------------------


def test_pixels_to_signed() -> None:
    values = np.arange(256, dtype=np.uint8)
    signed = pixels_to_signed(values)
    assert signed.dtype == torch.float32
    assert signed[0] == -1 and signed[255] == 1
    assert torch.equal(signed, torch.from_numpy(values) / 127.5 - 1)  # the release's formula, bit for bit
    from_float = pixels_to_signed(torch.from_numpy(values).float() / 255)  # ComfyUI IMAGE form
    assert torch.allclose(from_float, signed, atol=1e-6, rtol=0)


def test_pixels_to_signed_refuses_0_255_floats() -> None:
    with pytest.raises(InputError, match="expected \\[0, 1\\]"):
        pixels_to_signed(np.full((2, 2, 3), 200.0, np.float32))


def _write_png(path: Path, pixels: np.ndarray, mode: str) -> Path:
    Image.fromarray(pixels, mode=mode).save(path)
    return path


def test_reference_alpha_is_dropped_not_composited(tmp_path: Path) -> None:
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 50
    rgba[..., 3] = 0  # fully transparent: compositing over white or black would change the colour
    image = load_reference_image(_write_png(tmp_path / "rgba.png", rgba, "RGBA"))
    assert image.shape == (3, 4, 6)
    expected = torch.tensor([200, 100, 50], dtype=torch.uint8) / 127.5 - 1
    assert torch.equal(image[:, 0, 0], expected)
    # The same rule for arrays with an alpha channel.
    assert torch.equal(load_reference_image(rgba), image)


def test_reference_greyscale_becomes_rgb(tmp_path: Path) -> None:
    grey = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    image = load_reference_image(_write_png(tmp_path / "grey.png", grey, "L"))
    assert image.shape == (3, 4, 6)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    assert torch.equal(image[0], torch.from_numpy(grey) / 127.5 - 1)


def test_reference_from_comfy_image_batch() -> None:
    pixels = torch.rand(1, 5, 7, 3)
    image = load_reference_image(pixels)
    assert image.shape == (3, 5, 7)
    assert torch.allclose(image, pixels[0].permute(2, 0, 1) * 2 - 1)
    with pytest.raises(InputError, match="one image"):
        load_reference_image(torch.rand(2, 5, 7, 3))


def test_reference_missing_or_not_an_image(tmp_path: Path) -> None:
    missing = tmp_path / "ref.png"
    with pytest.raises(InputError, match="not found") as caught:
        load_reference_image(missing)
    assert str(missing) in str(caught.value)
    not_image = tmp_path / "ref.jpg"
    not_image.write_text("hello")
    with pytest.raises(InputError, match="ref.jpg"):
        load_reference_image(not_image)


# ---------------------------------------------------------------------------------------------------------------
# Pose videos
# ---------------------------------------------------------------------------------------------------------------


def numbered_frames(count: int, height: int, width: int) -> np.ndarray:
    """uint8 frames whose brightness encodes their index, plus a gradient so resizing has something to do."""
    gradient = np.linspace(0, 40, width, dtype=np.float32)[None, :, None]
    frames = [np.broadcast_to(5 * index + gradient, (height, width, 3)) for index in range(count)]
    return np.rint(frames).astype(np.uint8)


def test_pose_frames_follow_the_release(tmp_path: Path) -> None:
    """Frame-by-frame loading equals selecting the frames and resize-cropping the whole clip at once."""
    frames = numbered_frames(30, 36, 64)
    poses = prepare_pose_pair(frames, frames.copy(), num_frames=9, max_area=2048, pose_fps=32)
    # output_size(36, 64, 2048): r = 0.943; 36r/16 = 2.12 -> 2; 64r/16 = 3.77 -> 4.
    assert (poses.height, poses.width) == (32, 64)
    assert poses.frame_indices == frame_indices(30, 32, 9)
    assert poses.frame_indices[:4] == [0, 2, 4, 6]  # 32 fps -> 16 fps keeps every other frame
    clip = pixels_to_signed(frames[poses.frame_indices]).permute(3, 0, 1, 2)  # (C, F, H, W)
    assert torch.equal(poses.smpl, resize_crop(clip, 32, 64))
    assert torch.equal(poses.hamer, poses.smpl)


def test_pose_frames_default_to_16_fps() -> None:
    frames = torch.from_numpy(numbered_frames(12, 32, 32)).float() / 255  # a ComfyUI IMAGE batch
    poses = prepare_pose_pair(frames, frames, num_frames=9, max_area=32 * 32)
    assert poses.frame_indices == list(range(9))
    assert poses.smpl.shape == (3, 9, 32, 32)
    as_uint8 = prepare_pose_pair(numbered_frames(12, 32, 32), numbered_frames(12, 32, 32), 9, 32 * 32)
    assert torch.allclose(poses.smpl, as_uint8.smpl, atol=1e-5, rtol=0)


def test_pose_video_file(tmp_path: Path) -> None:
    path = write_video(tmp_path / "pose.mp4", numbered_frames(36, 48, 64), fps=24)
    video = load_pose_video(path, num_frames=9)
    expected_indices = frame_indices(36, 24, 9)  # n = 24: round(i * 35 / 23)
    decoded, _ = read_video(path, expected_indices)
    assert video.shape == (3, 9, 48, 64)
    assert torch.equal(video, pixels_to_signed(decoded).permute(3, 0, 1, 2))
    assert load_pose_video(path, num_frames=9, size=(32, 32)).shape == (3, 9, 32, 32)
    with pytest.raises(InputError, match="frame rate stored"):
        load_pose_video(path, num_frames=9, fps=24)


def test_pose_videos_of_different_size_are_refused(tmp_path: Path) -> None:
    smpl = write_video(tmp_path / "smpl.mp4", numbered_frames(4, 32, 64))
    hamer = write_video(tmp_path / "hamer.mp4", numbered_frames(4, 32, 48))
    with pytest.raises(InputError, match="differ in size") as caught:
        prepare_pose_pair(smpl, hamer, num_frames=5)
    message = str(caught.value)
    assert str(smpl) in message and str(hamer) in message and "64x32" in message and "48x32" in message


def test_pose_videos_of_different_rate_or_length_are_refused(tmp_path: Path) -> None:
    smpl = write_video(tmp_path / "smpl.mp4", numbered_frames(4, 32, 32), fps=16)
    faster = write_video(tmp_path / "faster.mp4", numbered_frames(4, 32, 32), fps=24)
    longer = write_video(tmp_path / "longer.mp4", numbered_frames(6, 32, 32), fps=16)
    with pytest.raises(InputError, match="differ in frame rate.*16 fps.*24 fps"):
        prepare_pose_pair(smpl, faster, num_frames=5)
    with pytest.raises(InputError, match="differ in length.*4 frames.*has 6"):
        prepare_pose_pair(smpl, longer, num_frames=5)
    with pytest.raises(InputError, match="differ in length"):
        prepare_pose_pair(numbered_frames(4, 8, 8), numbered_frames(5, 8, 8), num_frames=5)


def test_missing_pose_video(tmp_path: Path) -> None:
    hamer = write_video(tmp_path / "hamer.mp4", numbered_frames(4, 32, 32))
    with pytest.raises(InputError, match="not found") as caught:
        prepare_pose_pair(tmp_path / "smpl.mp4", hamer, num_frames=5)
    assert str(tmp_path / "smpl.mp4") in str(caught.value)


def test_pose_fps_is_only_for_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "pose.mp4", numbered_frames(4, 32, 32))
    with pytest.raises(InputError, match="pose_fps is only for pose frames"):
        prepare_pose_pair(path, path, num_frames=5, pose_fps=24)


# ---------------------------------------------------------------------------------------------------------------
# Everything together
# ---------------------------------------------------------------------------------------------------------------


def test_prepare_inputs_from_comfy_images() -> None:
    frames = torch.from_numpy(numbered_frames(30, 36, 64)).float() / 255
    reference = torch.rand(1, 40, 30, 3)
    prepared = prepare_inputs(reference, frames, frames, num_frames=9, max_area=2048)
    assert (prepared.height, prepared.width, prepared.num_frames) == (32, 64, 9)
    assert prepared.smpl.shape == prepared.hamer.shape == (3, 9, 32, 64)
    assert prepared.reference_raw.shape == (3, 40, 30)
    # reference_size(40, 30, 32 * 64): r = 1.306; 40r/16 = 3.27 -> 3; 30r/16 = 2.45 -> 2.
    assert prepared.reference.shape == (3, 48, 32)
    assert torch.equal(prepared.reference, resize_to_area(prepared.reference_raw, 32 * 64))
    assert prepared.source_fps == 16.0


def test_prepare_inputs_checks_frame_count_first() -> None:
    with pytest.raises(InputError, match="got 80"):
        prepare_inputs("missing.png", "missing_smpl.mp4", "missing_hamer.mp4", num_frames=80)


@pytest.mark.slow
@pytest.mark.skipif(not DEMO.is_dir(), reason="demo data (shared/data/realisdance-demo) is not present")
def test_demo_inputs() -> None:
    """The release's demo: 1920x1080, 24 fps, 144 frames -> 81 frames at 576x1024 (bit-exact vs the release's code
    run with decord, checked when this was written)."""
    prepared = prepare_inputs(DEMO / "ref.png", DEMO / "smpl.mp4", DEMO / "hamer.mp4")
    assert (prepared.height, prepared.width, prepared.num_frames) == (576, 1024, 81)
    assert prepared.smpl.shape == prepared.hamer.shape == (3, 81, 576, 1024)
    assert prepared.reference.shape == (3, 576, 1024)
    assert prepared.reference_raw.shape == (3, 1080, 1920)
    assert prepared.frame_indices[:10] == [0, 2, 3, 5, 6, 8, 9, 11, 12, 14]
    assert prepared.source_fps == 24.0
    for tensor in (prepared.smpl, prepared.hamer, prepared.reference):
        assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
        assert -1.5 < tensor.min() and tensor.max() < 1.5
