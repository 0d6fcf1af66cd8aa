"""Video files in and out.

Reading uses PyAV and gives RGB ``uint8`` frames exactly as the release's decord loader does (same FFmpeg decode and
rgb24 conversion; checked bit for bit on the demo pose videos). The frame count is the number of video packets and the
frame rate is the stream's average rate, which are the numbers decord reports.

Writing encodes H.264 (libx264, yuv420p) into an mp4 through a temporary file in the destination folder that is
renamed over the final name only once the file is complete, so a crash or an interrupt never leaves a half-written
mp4 under the name a user (or ComfyUI's output browser) will open.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from .errors import InputError

DEFAULT_FPS = 16  # the release exports at 16 fps (diffusers export_to_video(fps=16))
DEFAULT_CRF = 18  # visually lossless for x264; the release leaves quality to imageio's default

PathLike = str | os.PathLike


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, without decoding it."""

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int


def _open_input(path: Path) -> av.container.InputContainer:
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not a video; give the video file.")
    if not path.is_file():
        raise InputError(f"Video file not found: '{path}'. Check the path (or upload the video again) and retry.")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise InputError(
            f"Could not open '{path}' as a video ({err}). Use an mp4/webm/mov file, or re-encode it, e.g. "
            "`ffmpeg -i input -c:v libx264 -pix_fmt yuv420p output.mp4`."
        ) from err
    if not container.streams.video:
        container.close()
        raise InputError(f"'{path}' has no video stream. Pass a video file, not an audio file or an image.")
    return container


def _stream_fps(stream: av.video.stream.VideoStream, path: Path) -> float:
    # average_rate is FFmpeg's avg_frame_rate, the value decord's get_avg_fps() returns; guessed_rate covers files
    # whose header has no average.
    rate = stream.average_rate or stream.guessed_rate
    if not rate or rate <= 0:
        raise InputError(
            f"'{path}' does not say its frame rate. Re-encode it with an explicit rate, e.g. "
            "`ffmpeg -i input -r 24 -c:v libx264 -pix_fmt yuv420p output.mp4`."
        )
    return float(rate)


def probe_video(path: PathLike) -> VideoInfo:
    """Size, frame rate and frame count of the first video stream of ``path``.

    Frames are counted by demuxing packets (cheap: nothing is decoded), because the header's count is missing in
    some containers and decord, which the release uses, counts packets too.
    """
    path = Path(path)
    container = _open_input(path)
    try:
        stream = container.streams.video[0]
        fps = _stream_fps(stream, path)
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            # The demuxer ends with an empty flush packet; only packets with data are frames.
            frame_count = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.FFmpegError as err:
            raise InputError(f"'{path}' is damaged ({err}). Re-encode or re-export the video.") from err
    finally:
        container.close()
    if frame_count == 0 or width <= 0 or height <= 0:
        raise InputError(f"'{path}' holds no video frames. Re-export the video.")
    return VideoInfo(path=path, width=width, height=height, fps=fps, frame_count=frame_count)


def _decode_rgb(
    container: av.container.InputContainer, path: Path, indices: Iterable[int] | None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, RGB uint8 frame)`` for the wanted indices (all frames when None), in file order."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: decoding 1080p is the slow part on small CPUs
    wanted = None if indices is None else sorted(set(indices))
    if wanted is not None and not wanted:
        return
    if wanted is not None and wanted[0] < 0:
        raise InputError(f"Frame index {wanted[0]} is negative; frame indices start at 0.")
    decoded = 0
    next_wanted = 0
    try:
        for index, frame in enumerate(container.decode(stream)):
            decoded = index + 1
            if wanted is None:
                yield index, frame.to_ndarray(format="rgb24")
            elif index == wanted[next_wanted]:
                # Only wanted frames pay for the RGB conversion.
                yield index, frame.to_ndarray(format="rgb24")
                next_wanted += 1
                if next_wanted == len(wanted):
                    return  # stop decoding after the last wanted frame
    except av.FFmpegError as err:
        raise InputError(f"'{path}' could not be decoded past frame {decoded} ({err}). Re-encode it.") from err
    if wanted is not None:
        raise InputError(
            f"'{path}' ended after {decoded} frames, but frame {wanted[next_wanted]} was needed (its header promises "
            "more frames than it holds). Re-encode it, e.g. `ffmpeg -i input -c:v libx264 -pix_fmt yuv420p out.mp4`."
        )


def iter_video_frames(path: PathLike, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` once per distinct wanted index, in file order; frames are RGB uint8 (H, W, 3).

    Decoding is sequential (H.264 cannot skip), but only the wanted frames are converted to RGB and decoding stops
    after the last wanted frame, so a caller can process frames one by one without holding the whole clip.
    """
    path = Path(path)
    container = _open_input(path)
    try:
        yield from _decode_rgb(container, path, indices)
    finally:
        container.close()


def read_video(path: PathLike, indices: Sequence[int] | None = None) -> tuple[np.ndarray, float]:
    """Decode ``path`` to RGB uint8 frames (F, H, W, 3) and its frame rate (frames per second).

    With ``indices`` only those frames are returned, in the given order; an index may repeat.
    """
    path = Path(path)
    container = _open_input(path)
    try:
        fps = _stream_fps(container.streams.video[0], path)
        if indices is None:
            frames = [rgb for _, rgb in _decode_rgb(container, path, None)]
        else:
            decoded = dict(_decode_rgb(container, path, indices))
            frames = [decoded[i] for i in indices]
    finally:
        container.close()
    if not frames:
        raise InputError(f"No frames were read from '{path}': the file is empty or no frame indices were asked for.")
    return np.stack(frames), fps


def _to_uint8_frame(frame: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu().numpy()
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise InputError(f"Frames to write must be RGB (H, W, 3); got shape {tuple(frame.shape)}.")
    if frame.dtype == np.uint8:
        return frame
    if not np.issubdtype(frame.dtype, np.floating):
        raise InputError(f"Frames to write must be uint8 or float in [0, 1]; got {frame.dtype}.")
    # Round (not truncate, as diffusers' export_to_video does) so that a decoded uint8 round trip is exact.
    return np.rint(np.clip(frame.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def each_frame(chunks: Iterable[np.ndarray | torch.Tensor]) -> Iterator[np.ndarray | torch.Tensor]:
    """Frames one by one from chunks (F_i, H, W, 3), as a streamed decode makes them: ``write_video`` takes them as
    they come, so the whole float video is never in memory."""
    for chunk in chunks:
        yield from chunk


def write_video(
    path: PathLike,
    frames: np.ndarray | torch.Tensor | Iterable[np.ndarray | torch.Tensor],
    fps: float = DEFAULT_FPS,
    crf: int = DEFAULT_CRF,
) -> Path:
    """Encode RGB frames to an H.264 (yuv420p) mp4 at ``path`` and return the path.

    ``frames`` is an (F, H, W, 3) array or tensor, or any iterable of (H, W, 3) frames; each is uint8, or float in
    [0, 1] (ComfyUI IMAGE), which is clipped and rounded to uint8. The file appears under its final name only when
    it is complete: it is written to a hidden temporary file in the same folder (so the rename cannot cross file
    systems) and moved with ``os.replace``; on any error the temporary file is removed and an existing file at
    ``path`` is left untouched.
    """
    path = Path(path)
    if fps <= 0:
        raise InputError(f"The frame rate must be positive; got {fps}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
    container = None
    try:
        container = av.open(str(temporary), mode="w", format="mp4")
        stream = None
        count = 0
        for frame in frames:
            rgb = _to_uint8_frame(frame)
            if stream is None:
                stream = _add_h264_stream(container, rgb.shape[0], rgb.shape[1], fps, crf)
            elif rgb.shape[:2] != (stream.height, stream.width):
                raise InputError(
                    f"Frame {count} is {rgb.shape[1]}x{rgb.shape[0]} but the first frame is "
                    f"{stream.width}x{stream.height}; all frames of a video must have one size."
                )
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            count += 1
        if stream is None:
            raise InputError(f"No frames to write to '{path}'; pass at least one frame.")
        container.mux(stream.encode(None))  # flush the encoder's delayed frames
        container.close()
        container = None
        os.replace(temporary, path)
    except BaseException:
        # BaseException too: a KeyboardInterrupt (ComfyUI's cancel) must not leave the partial file behind.
        if container is not None:
            with contextlib.suppress(Exception):  # already failing: the original error is the one to report
                container.close()
        temporary.unlink(missing_ok=True)
        raise
    return path


def _add_h264_stream(container: av.container.OutputContainer, height: int, width: int, fps: float, crf: int):
    if height % 2 or width % 2:
        # yuv420p stores colour at half resolution, so x264 refuses odd sizes.
        raise InputError(
            f"H.264 (yuv420p) needs an even width and height; got {width}x{height}. Crop or pad by one pixel."
        )
    # A Fraction keeps NTSC rates exact (23.976 -> 24000/1001) instead of drifting through a float time base.
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(crf)}
    return stream
