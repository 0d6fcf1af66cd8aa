"""Video I/O: PyAV decode, atomic H.264 encode."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

import realisdance.video as video
from realisdance.errors import InputError
from realisdance.video import _to_uint8_frame, iter_video_frames, probe_video, read_video, write_video

DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "realisdance-demo"


def smooth_frames(count: int = 8, height: int = 48, width: int = 64) -> np.ndarray:
    """Gradients that move from frame to frame: they survive H.264 + 4:2:0 with small errors, unlike noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(count):
        red = 128 + 100 * np.sin((x + 4 * t) / 9.0)
        green = 128 + 100 * np.cos((y - 3 * t) / 7.0)
        blue = np.full_like(x, 40.0 + 20 * t)
        frames.append(np.stack([red, green, blue], axis=-1))
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_uint8(tmp_path: Path) -> None:
    frames = smooth_frames()
    path = write_video(tmp_path / "clip.mp4", frames)
    assert path == tmp_path / "clip.mp4"
    decoded, fps = read_video(path)
    assert fps == 16.0
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    # Lossy codec (and 4:2:0 chroma): a few levels on average. Each decoded frame must still be nearest to its own
    # source frame, which catches dropped, repeated or reordered frames; the colour check catches a channel swap.
    error = np.abs(decoded.astype(np.int16)[:, None] - frames.astype(np.int16)[None]).mean(axis=(2, 3, 4))
    assert np.all(np.diag(error) < 6.0)
    assert np.array_equal(error.argmin(axis=1), np.arange(len(frames)))
    channel_means = decoded.reshape(-1, 3).mean(axis=0)
    assert np.allclose(channel_means, frames.reshape(-1, 3).mean(axis=0), atol=3.0)
    assert folder_names(tmp_path) == ["clip.mp4"]  # no temporary file left behind


def test_round_trip_float_and_tensor_frames(tmp_path: Path) -> None:
    frames = smooth_frames(count=5)
    as_float = torch.from_numpy(frames.astype(np.float32) / 255.0)  # a ComfyUI IMAGE batch
    # Floats are rounded back to exactly the uint8 values, so the encoder sees identical input ...
    assert all(np.array_equal(_to_uint8_frame(f), u) for f, u in zip(as_float, frames, strict=True))
    decoded, _ = read_video(write_video(tmp_path / "float.mp4", as_float))
    reference, _ = read_video(write_video(tmp_path / "uint8.mp4", frames))
    # ... but two libx264 encodes of one input need not be byte-identical (threading), so compare within the codec's
    # error rather than bit for bit.
    assert decoded.shape == reference.shape
    assert np.abs(decoded.astype(int) - reference.astype(int)).mean() < 2.0


def test_probe_and_frame_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "ntsc.mp4", smooth_frames(count=6, height=32, width=48), fps=24000 / 1001)
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (48, 32, 6)
    assert Fraction(info.fps).limit_denominator(1001) == Fraction(24000, 1001)


def test_read_selected_frames_in_given_order(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", smooth_frames())
    everything, _ = read_video(path)
    chosen, _ = read_video(path, [5, 0, 5, 2])
    assert np.array_equal(chosen, everything[[5, 0, 5, 2]])
    assert [index for index, _ in iter_video_frames(path, [7, 1, 1])] == [1, 7]


def test_asking_past_the_end_is_an_input_error(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", smooth_frames(count=4))
    with pytest.raises(InputError, match="ended after 4 frames"):
        read_video(path, [1, 9])


@pytest.mark.parametrize("error", [RuntimeError("encoder died"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_no_file(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "out.mp4"
    seen_during_write: list[list[str]] = []

    def failing_frames():
        # 60 frames: past x264's lookahead (about 40 frames), so packets have reached the disk before the failure.
        for index in range(60):
            seen_during_write.append(folder_names(tmp_path))
            yield np.full((32, 32, 3), index * 4, np.uint8)
        raise error

    with pytest.raises(type(error)):
        write_video(target, failing_frames())
    # While writing, the destination folder held at most a hidden temporary file, never the final name.
    partial_names = {name for names in seen_during_write for name in names}
    assert len(partial_names) == 1
    (partial,) = partial_names
    assert partial.startswith(".out.mp4.") and partial.endswith(".partial")
    assert folder_names(tmp_path) == []


def test_failure_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")

    def failing_frames():
        yield smooth_frames(count=1)[0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_video(target, failing_frames())
    assert target.read_bytes() == b"previous result"
    assert folder_names(tmp_path) == ["out.mp4"]


def test_failure_at_rename_removes_the_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(video.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_video(tmp_path / "out.mp4", smooth_frames(count=2))
    assert folder_names(tmp_path) == []


def test_creates_missing_folders(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a" / "b" / "clip.mp4", smooth_frames(count=2))
    assert path.is_file()


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((2, 33, 64, 3), np.uint8), "even width and height"),
        (np.zeros((0, 32, 64, 3), np.uint8), "No frames"),
        (np.zeros((2, 32, 64, 4), np.uint8), r"RGB \(H, W, 3\)"),
        (np.zeros((2, 32, 64, 3), np.int32), "uint8 or float"),
        ([np.zeros((32, 64, 3), np.uint8), np.zeros((32, 48, 3), np.uint8)], "one size"),
    ],
)
def test_bad_frames_are_refused_without_leftovers(tmp_path: Path, frames, message: str) -> None:
    with pytest.raises(InputError, match=message):
        write_video(tmp_path / "bad.mp4", frames)
    assert folder_names(tmp_path) == []


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(InputError, match="not found") as caught:
        probe_video(missing)
    assert str(missing) in str(caught.value)
    with pytest.raises(InputError, match="not found"):
        read_video(missing)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_text("this is not a video")
    with pytest.raises(InputError, match="garbage.mp4"):
        probe_video(garbage)


@pytest.mark.skipif(not DEMO.is_dir(), reason="demo data (shared/data/realisdance-demo) is not present")
def test_demo_probe() -> None:
    info = probe_video(DEMO / "smpl.mp4")
    assert (info.width, info.height, info.fps, info.frame_count) == (1920, 1080, 24.0, 144)


@pytest.mark.skipif(not DEMO.is_dir(), reason="demo data (shared/data/realisdance-demo) is not present")
def test_decoding_matches_decord() -> None:
    """The release decodes with decord; where decord is installed, PyAV must give the very same RGB bytes."""
    decord = pytest.importorskip("decord", reason="decord (the release's decoder) is not installed")
    path = DEMO / "hamer.mp4"
    indices = [0, 17, 80, 120]
    reader = decord.VideoReader(str(path))
    assert len(reader) == probe_video(path).frame_count
    assert reader.get_avg_fps() == probe_video(path).fps
    ours, _ = read_video(path, indices)
    assert np.array_equal(ours, reader.get_batch(indices).asnumpy())
