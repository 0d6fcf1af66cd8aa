"""Input preprocessing of the RealisDance-DiT release, reproduced exactly.

Source of truth: the release's ``inference.py`` (``load_image``, ``load_video``) and
``RealisDanceDiTPipeline.process_shape`` / the size rule in ``__call__`` (spec §3.3, §10 items 5, 6, 10).

Conventions
- Pixels become float32 in [-1, 1]: uint8 ``x / 127.5 - 1`` (the release's formula). Float frames in [0, 1]
  (ComfyUI IMAGE) use ``x * 2 - 1``; for frames that came from 8-bit files this equals the uint8 formula to within
  one float32 ulp (about 1e-7), and nothing is quantised.
- Videos are (C, F, H, W) tensors (a leading batch B is accepted where said); images (C, H, W); sizes (height, width).
- Rounding: the release calls Python's ``round`` and numpy's ``.round()``; both round halves to even (2.5 -> 2, 3.5
  -> 4). This module calls the same functions in the same order, so ties fall the same way (a half-up rounding
  would pick other frames; see the tests).
- Resizing is ``F.interpolate(mode="bicubic", align_corners=False)``, no antialias and no clamp, on the float
  [-1, 1] tensors, so values slightly outside [-1, 1] are expected (and fed to the VAE, as in the release).

Deliberate differences from ``inference.py`` (which does not check its inputs):
- a frame count that is not 4k+1 is refused (the release's pipeline would silently round it down, and its
  ``--num-frames`` crashes the DiT, spec §10 item 1);
- SMPL and HaMeR videos of different size, frame rate or length are refused (the release assumes they match; a
  mismatch would silently misalign hands and body, in space after cropping or in time after frame selection).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..arguments import check_finite, check_max_area
from ..errors import InputError
from ..video import iter_video_frames, probe_video

TARGET_FPS = 16  # the release resamples every pose video to 16 fps
DEFAULT_NUM_FRAMES = 81
DEFAULT_MAX_AREA = 768 * 768  # 589,824 px: 576x1024 for 16:9
SIZE_MULTIPLE = 16  # VAE stride 8 x patch size 2
TEMPORAL_STRIDE = 4  # Wan VAE: one latent frame for the first frame, then one per 4 frames

ImageSource = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor
VideoSource = str | os.PathLike | np.ndarray | torch.Tensor

# ---------------------------------------------------------------------------------------------------------------
# Frame selection and sizes (pure arithmetic)
# ---------------------------------------------------------------------------------------------------------------


# 10 minutes at 16 fps: long clips run in windows with memory flat in frames; the cap only catches a typo'd count.
MAX_FRAMES = 9601


def check_frame_count(num_frames: int) -> int:
    """Return ``num_frames`` if it is 4k+1 (1, 5, ..., 77, 81, 85, ...); raise ``InputError`` otherwise."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, int | np.integer):
        raise InputError(f"frames must be a whole number of the form 4k+1 (…, 77, 81, 85 …); got {num_frames!r}.")
    num_frames = int(num_frames)
    if num_frames < 1:
        raise InputError(f"frames must be at least 1 and of the form 4k+1 (1, 5, …, 81 …); got {num_frames}.")
    if num_frames > MAX_FRAMES:
        raise InputError(
            f"frames must be at most {MAX_FRAMES} (10 minutes at 16 fps) in one run (81 = 5 s is the release's "
            f"length); got {num_frames}."
        )
    if (num_frames - 1) % TEMPORAL_STRIDE:
        lower = (num_frames - 1) // TEMPORAL_STRIDE * TEMPORAL_STRIDE + 1
        raise InputError(
            f"frames must be of the form 4k+1 (…, 77, 81, 85 …); got {num_frames}. "
            f"Use {lower} or {lower + TEMPORAL_STRIDE} (the Wan VAE packs 4 frames per latent frame after the first)."
        )
    return num_frames


def whole_clip_frames(length: int, fps: float, target_fps: float = TARGET_FPS) -> int:
    """The longest 4k+1 frame count a clip of ``length`` frames at ``fps`` gives at ``target_fps`` (``--frames all``),
    capped at ``MAX_FRAMES``."""
    available = max(1, round(length / fps * target_fps))
    return min((available - 1) // TEMPORAL_STRIDE * TEMPORAL_STRIDE + 1, MAX_FRAMES)


def resampled_length(length: int, fps: float, num_frames: int, target_fps: float = TARGET_FPS) -> int:
    """How many frames the clip has once resampled to ``target_fps``, but never fewer than ``num_frames``.

    ``max(round(length / fps * target_fps), num_frames)``: Python's round, halves to even (86.5 -> 86).
    """
    return max(round(length / fps * target_fps), num_frames)


def frame_indices(length: int, fps: float, num_frames: int, target_fps: float = TARGET_FPS) -> list[int]:
    """Source frame indices the release feeds to the model, one per output frame.

    ``round(linspace(0, length - 1, n))[:num_frames]`` with ``n = resampled_length(...)``; numpy's ``.round()``
    rounds halves to even. Only the first ``num_frames`` frames at 16 fps are used (about 5 s), and a clip that is
    too short is stretched in time by repeating frames, as the release does.
    """
    check_frame_count(num_frames)
    if length < 1:
        raise InputError(f"The pose video has no frames (length {length}); pass a video with at least one frame.")
    if not fps > 0:
        raise InputError(f"The pose video's frame rate must be positive; got {fps}.")
    count = resampled_length(length, fps, num_frames, target_fps)
    return np.linspace(0, length - 1, count).round().astype(int).tolist()[:num_frames]


def output_size(
    pose_height: int, pose_width: int, max_area: int = DEFAULT_MAX_AREA, multiple: int = SIZE_MULTIPLE
) -> tuple[int, int]:
    """(height, width) of the generated video: the pose video's aspect ratio at about ``max_area`` pixels.

    r = sqrt(max_area / (H * W)); each side is round(side * r / 16) * 16 (Python round). 1080x1920 -> 576x1024.
    """
    return _scaled_size(pose_height, pose_width, max_area, multiple, what="pose video")


def reference_size(ref_height: int, ref_width: int, area: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(height, width) of the reference image for the VAE: its own aspect ratio at about ``area`` pixels.

    The release's "max_resolution" mode, with ``area`` = height * width of the video. The result can differ in
    shape from the video (a portrait reference for a landscape video stays portrait).
    """
    return _scaled_size(ref_height, ref_width, area, multiple, what="reference image")


def _scaled_size(height: int, width: int, area: int, multiple: int, what: str) -> tuple[int, int]:
    if height < 1 or width < 1:
        raise InputError(f"The {what} is empty ({width}x{height}); pass a real image or video.")
    if area < 1:
        raise InputError(f"The target area must be positive; got {area}.")
    # Same expression and order as the release: (area / (h * w)) ** 0.5, then round(side * ratio / 16) * 16.
    ratio = (area / (height * width)) ** 0.5
    new_height = round(height * ratio / multiple) * multiple
    new_width = round(width * ratio / multiple) * multiple
    if new_height < multiple or new_width < multiple:
        raise InputError(
            f"The {what} ({width}x{height}) is too elongated for an area of {area} px: one side would round to "
            f"{new_width}x{new_height}. Use a larger max area or a less extreme aspect ratio."
        )
    return new_height, new_width


def crop_window(src_height: int, src_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """``(scaled_height, scaled_width, top, left)`` of the release's "resize_crop" mode.

    The source is scaled to cover (height, width) keeping its aspect ratio (the side that needs the larger factor
    fits exactly, the other is Python-rounded), then cropped from ``int(round(excess) / 2.0)``, which floors an odd
    excess (excess 3 -> start 1). A tie in factors scales by the width.
    """
    ratio_h, ratio_w = height / src_height, width / src_width
    if ratio_h > ratio_w:
        scaled_height, scaled_width = height, round(src_width * ratio_h)
        top, left = 0, int(round(scaled_width - width) / 2.0)
    else:
        scaled_height, scaled_width = round(src_height * ratio_w), width
        top, left = int(round(scaled_height - height) / 2.0), 0
    return scaled_height, scaled_width, top, left


# ---------------------------------------------------------------------------------------------------------------
# Resizing float [-1, 1] tensors
# ---------------------------------------------------------------------------------------------------------------


def _bicubic(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # The release's exact call: no antialias (so downscaling aliases) and no clamp afterwards.
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False)


def resize_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale a (C, F, H, W) or (B, C, F, H, W) video to cover (height, width), then centre-crop to it."""
    if video.ndim == 4:
        return resize_crop(video.unsqueeze(0), height, width)[0]
    if video.ndim != 5:
        raise InputError(f"resize_crop expects a (C, F, H, W) or (B, C, F, H, W) video; got {tuple(video.shape)}.")
    batch, channels, frames, src_height, src_width = video.shape
    scaled_height, scaled_width, top, left = crop_window(src_height, src_width, height, width)
    # Frames are resized independently, so folding F into the batch (as the release does) changes nothing.
    flat = video.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, src_height, src_width)
    flat = _bicubic(flat, (scaled_height, scaled_width))
    flat = flat[..., top : top + height, left : left + width]
    return flat.reshape(batch, frames, channels, height, width).permute(0, 2, 1, 3, 4).contiguous()


def _resize_crop_frame(frame: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``resize_crop`` of one (C, H, W) frame; bit-identical to resizing it inside the whole clip."""
    scaled_height, scaled_width, top, left = crop_window(frame.shape[-2], frame.shape[-1], height, width)
    resized = _bicubic(frame.unsqueeze(0), (scaled_height, scaled_width))[0]
    return resized[:, top : top + height, left : left + width]


def resize_to_area(image: torch.Tensor, area: int, multiple: int = SIZE_MULTIPLE) -> torch.Tensor:
    """Resize a (C, H, W) or (B, C, H, W) image to about ``area`` pixels, keeping its aspect ratio (no crop)."""
    if image.ndim == 3:
        return resize_to_area(image.unsqueeze(0), area, multiple)[0]
    if image.ndim != 4:
        raise InputError(f"resize_to_area expects a (C, H, W) or (B, C, H, W) image; got {tuple(image.shape)}.")
    return _bicubic(image, reference_size(image.shape[-2], image.shape[-1], area, multiple))


# ---------------------------------------------------------------------------------------------------------------
# Pixels -> float [-1, 1]
# ---------------------------------------------------------------------------------------------------------------


def _as_tensor(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(pixels, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(pixels))
    return pixels.detach().cpu()


def _as_rgb(pixels: torch.Tensor, what: str) -> torch.Tensor:
    """Channels-last pixels with 3 channels: alpha is dropped and grey is repeated, as PIL's convert("RGB") does."""
    channels = pixels.shape[-1]
    if channels == 3:
        return pixels
    if channels == 4:
        return pixels[..., :3]  # dropped, not composited over a background
    if channels == 1:
        return pixels.expand(*pixels.shape[:-1], 3)
    raise InputError(f"The {what} has {channels} channels in its last axis; expected 1 (grey), 3 (RGB) or 4 (RGBA).")


# The release's formula evaluated once per uint8 value (uint8 / 127.5 computes in float32, then - 1). Looking values
# up is bit-identical by construction and twice as fast as the arithmetic on a 1080p frame.
_UINT8_TO_SIGNED = (torch.arange(256, dtype=torch.uint8) / 127.5 - 1).numpy()


def pixels_to_signed(pixels: np.ndarray | torch.Tensor, what: str = "image") -> torch.Tensor:
    """Channels-last uint8 [0, 255] or float [0, 1] pixels -> float32 [-1, 1] (same shape)."""
    pixels = _as_tensor(pixels)
    if pixels.dtype == torch.uint8:
        return torch.from_numpy(_UINT8_TO_SIGNED[pixels.numpy()])
    if not pixels.is_floating_point():
        raise InputError(f"The {what} must be uint8 or float in [0, 1]; got {pixels.dtype}.")
    pixels = pixels.float()
    low, high = pixels.min().item(), pixels.max().item()
    if low < -1e-3 or high > 1 + 1e-3:
        raise InputError(
            f"The {what} holds floats from {low:.3g} to {high:.3g}; expected [0, 1] like a ComfyUI IMAGE. "
            "Divide 0-255 values by 255 (or pass uint8)."
        )
    return pixels * 2 - 1


# ---------------------------------------------------------------------------------------------------------------
# Reference image
# ---------------------------------------------------------------------------------------------------------------


# The reference is resized to about max_area (768*768 by default) anyway; a file past this is refused from its header
# before any decoding (a 20000 x 20000 PNG would take minutes and gigabytes to decode).
MAX_REFERENCE_PIXELS = 8192 * 8192


def _check_image_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_REFERENCE_PIXELS:
        raise InputError(
            f"'{path.name}' is {width}x{height} pixels, more than the {MAX_REFERENCE_PIXELS // 2**20} megapixels a "
            "reference is read at (it is resized to about 768x768 anyway); scale it down first."
        )


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """As the release, ``convert("RGB")`` (alpha dropped without compositing, grey repeated), except for 16- and
    32-bit grey, which PIL would clip to white: those are scaled to 8 bits first."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() <= 65535 else float(values.max())
        grey = np.clip(np.rint(values / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode == "F":
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.array(image.convert("RGB"))


def _read_image_file(path: Path) -> np.ndarray:
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not an image; give the reference image's file.")
    if not path.is_file():
        raise InputError(f"Reference image not found: '{path}'. Check the path (or upload the image again) and retry.")
    try:
        with Image.open(path) as image:  # reads the header only; decoding happens in _to_rgb8
            _check_image_size(path, *image.size)
            # The EXIF orientation is NOT applied, as in the release; rotate such photos beforehand.
            return _to_rgb8(image)
    except Image.DecompressionBombError:  # PIL's own guard fires at open for images far past our limit
        raise InputError(
            f"'{path.name}' is larger than the {MAX_REFERENCE_PIXELS // 2**20} megapixels a reference is read at "
            "(it is resized to about 768x768 anyway); scale it down first."
        ) from None
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"Could not read '{path}' as an image ({err}). Use a PNG, JPEG or WebP file.") from err


def load_reference_image(source: ImageSource) -> torch.Tensor:
    """The reference image as a (3, H, W) float32 tensor in [-1, 1], at its own size (the "raw" reference).

    ``source`` is a file path, a PIL image, or pixels (H, W, C) / (1, H, W, C) as uint8 or float [0, 1] (a ComfyUI
    IMAGE). Alpha is dropped without compositing and grey becomes RGB, as PIL's ``convert("RGB")`` does in the
    release. CLIP takes this raw tensor; the VAE takes ``resize_to_area`` of it.
    """
    if isinstance(source, str | os.PathLike):
        pixels = torch.from_numpy(_read_image_file(Path(source)))
    elif isinstance(source, Image.Image):
        pixels = torch.from_numpy(_to_rgb8(source))
    elif isinstance(source, np.ndarray | torch.Tensor):
        pixels = _as_tensor(source)
        if pixels.ndim == 4:
            if pixels.shape[0] != 1:
                raise InputError(
                    f"The reference must be one image; got a batch of {pixels.shape[0]}. Pick one (e.g. with "
                    "ComfyUI's ImageFromBatch)."
                )
            pixels = pixels[0]
        if pixels.ndim == 2:
            pixels = pixels.unsqueeze(-1)
        if pixels.ndim != 3:
            raise InputError(f"The reference image must be (H, W, C) or (1, H, W, C); got {tuple(pixels.shape)}.")
        pixels = _as_rgb(pixels, "reference image")
    else:
        raise InputError(f"The reference must be a file path, PIL image, array or tensor; got {type(source).__name__}.")
    return pixels_to_signed(pixels, "reference image").permute(2, 0, 1).contiguous()


# ---------------------------------------------------------------------------------------------------------------
# Pose videos
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PoseSource:
    """A pose video as a file or as frames, with what the pair checks need and a way to get chosen frames."""

    label: str
    height: int
    width: int
    fps: float
    length: int
    read: Callable[[Iterable[int]], Iterator[tuple[int, np.ndarray | torch.Tensor]]] = field(repr=False)


def _open_pose_source(source: VideoSource, what: str, fps: float | None) -> _PoseSource:
    if isinstance(source, str | os.PathLike):
        info = probe_video(source)  # raises InputError naming the path if missing or unreadable
        return _PoseSource(
            label=f"{what} '{info.path}'",
            height=info.height,
            width=info.width,
            fps=info.fps,
            length=info.frame_count,
            read=lambda indices: iter_video_frames(info.path, indices),
        )
    if not isinstance(source, np.ndarray | torch.Tensor):
        raise InputError(f"The {what} must be a file path or frames (F, H, W, C); got {type(source).__name__}.")
    frames = _as_tensor(source)
    if frames.ndim != 4:
        raise InputError(
            f"The {what} frames must be (F, H, W, C) like a ComfyUI IMAGE batch; got {tuple(frames.shape)}."
        )
    if fps is not None and not fps > 0:
        raise InputError(f"The pose frame rate must be positive; got {fps}.")

    def read(indices: Iterable[int]) -> Iterator[tuple[int, torch.Tensor]]:
        for index in sorted(set(indices)):
            yield index, frames[index]

    return _PoseSource(
        label=f"{what} (frames)",
        height=frames.shape[1],
        width=frames.shape[2],
        # Frames carry no rate: without one they are taken as already at 16 fps, so nothing is dropped.
        fps=float(fps) if fps is not None else float(TARGET_FPS),
        length=frames.shape[0],
        read=read,
    )


def _iter_condition(
    source: _PoseSource, indices: Sequence[int], size: tuple[int, int] | None
) -> Iterator[torch.Tensor]:
    """(3, H, W) float [-1, 1] for each of ``indices`` in order, reading the source once, front to back.

    ``indices`` never go backwards (``frame_indices`` rounds a linspace), so each distinct source frame is decoded,
    converted and resized once and shown as many times as it is picked (a stretched clip repeats frames).
    Working frame by frame keeps memory at the output size (a 1080p clip in float32 would take 2 GB); the frames
    are bit-identical to resizing the whole clip at once.
    """
    if any(later < earlier for earlier, later in zip(indices, indices[1:], strict=False)):
        raise InputError(f"frames of the {source.label} must be picked in order")
    repeats: dict[int, int] = {}
    for index in indices:
        repeats[index] = repeats.get(index, 0) + 1
    for index, frame in source.read(repeats):
        pixels = _as_rgb(_as_tensor(frame), source.label)
        # HWC -> CHW as a view, like the release's permute; the bicubic result does not depend on the layout.
        signed = pixels_to_signed(pixels, source.label).permute(2, 0, 1)
        if size is not None:
            signed = _resize_crop_frame(signed, *size)
        for _ in range(repeats[index]):
            yield signed


def _load_condition(source: _PoseSource, indices: Sequence[int], size: tuple[int, int] | None) -> torch.Tensor:
    """(3, F, H, W) float [-1, 1] of the chosen frames (see ``_iter_condition``)."""
    video: torch.Tensor | None = None
    for position, signed in enumerate(_iter_condition(source, indices, size)):
        if video is None:
            # Filled in place rather than stacked: stacking would hold the clip twice (2 x 573 MB at 576x1024).
            video = torch.empty((3, len(indices), *signed.shape[-2:]), dtype=torch.float32)
        video[:, position].copy_(signed)
    if video is None:
        raise InputError(f"No frames were read from the {source.label}; pass a video with at least one frame.")
    return video


POSE_CHUNK_FRAMES = 16  # frames read per chunk of a streamed pose video (4 encoder calls)


@dataclass(frozen=True)
class PoseFrames:
    """A pose video read only when it is encoded, a chunk at a time, for clips longer than one window: the float
    video (3.4 GB for 481 frames at 576x1024) is never whole in memory. ``shape`` is that of the loaded video."""

    source: _PoseSource
    indices: list[int]
    size: tuple[int, int]
    what: str

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (3, len(self.indices), *self.size)

    def chunks(self, frames_per_chunk: int = POSE_CHUNK_FRAMES) -> Iterator[torch.Tensor]:
        """(1, 3, n, H, W) float32 chunks in order, each checked for NaN / infinity as it is read."""
        buffer: list[torch.Tensor] = []
        read = 0
        for signed in _iter_condition(self.source, self.indices, self.size):
            buffer.append(signed)
            read += 1
            if len(buffer) == frames_per_chunk or read == len(self.indices):
                chunk = torch.stack(buffer, dim=1).unsqueeze(0)
                buffer = []
                yield check_finite(chunk, self.what)
        if read != len(self.indices):
            raise InputError(f"the {self.source.label} gave {read} of the {len(self.indices)} frames it was asked for")

    def load(self) -> torch.Tensor:
        """The whole video (3, F, H, W), for a VAE that cannot encode chunk by chunk."""
        return check_finite(_load_condition(self.source, self.indices, self.size), self.what)


def load_pose_video(
    source: VideoSource,
    num_frames: int = DEFAULT_NUM_FRAMES,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
) -> torch.Tensor:
    """One pose video as (3, num_frames, H, W) float32 in [-1, 1], resampled to 16 fps as the release does.

    ``source`` is a video file or frames (F, H, W, C) as uint8 or float [0, 1]. ``fps`` is the rate of frames
    (default: already 16 fps, no resampling); a file always uses its own rate. With ``size`` = (height, width) the
    frames are resize-cropped to it; without, they keep the source size.
    """
    if isinstance(source, str | os.PathLike) and fps is not None:
        raise InputError("fps is only for pose frames; a video file uses the frame rate stored in it.")
    pose = _open_pose_source(source, "pose video", fps)
    return _load_condition(pose, frame_indices(pose.length, pose.fps, num_frames), size)


@dataclass(frozen=True)
class PreparedPoses:
    """Both pose conditions, ready for the VAE: (3, num_frames, height, width) float32 in [-1, 1] each."""

    smpl: torch.Tensor | PoseFrames
    hamer: torch.Tensor | PoseFrames
    height: int
    width: int
    num_frames: int
    frame_indices: list[int]  # source frames used, one per output frame
    source_fps: float


def _check_same_timing_and_size(smpl: _PoseSource, hamer: _PoseSource) -> None:
    if (smpl.height, smpl.width) != (hamer.height, hamer.width):
        raise InputError(
            f"The pose videos differ in size: {smpl.label} is {smpl.width}x{smpl.height} but {hamer.label} is "
            f"{hamer.width}x{hamer.height}. Render SMPL and HaMeR from the same clip at the same size."
        )
    if abs(smpl.fps - hamer.fps) > 1e-3:
        raise InputError(
            f"The pose videos differ in frame rate: {smpl.label} is {smpl.fps:g} fps but {hamer.label} is "
            f"{hamer.fps:g} fps. Export both at the same rate (the release assumes they match)."
        )
    if smpl.length != hamer.length:
        raise InputError(
            f"The pose videos differ in length: {smpl.label} has {smpl.length} frames but {hamer.label} has "
            f"{hamer.length}. Trim them to the same frames (the release assumes they match)."
        )


@dataclass(frozen=True)
class _PosePlan:
    smpl: _PoseSource
    hamer: _PoseSource
    height: int
    width: int
    indices: list[int]


def _plan_pose_pair(
    smpl: VideoSource, hamer: VideoSource, num_frames: int, max_area: int, pose_fps: float | None
) -> _PosePlan:
    """Open and check both pose videos and work out size and frames; nothing is decoded yet."""
    check_frame_count(num_frames)
    if pose_fps is not None and all(isinstance(s, str | os.PathLike) for s in (smpl, hamer)):
        raise InputError("pose_fps is only for pose frames; video files use the frame rate stored in them.")
    smpl_source = _open_pose_source(smpl, "SMPL video", pose_fps)
    hamer_source = _open_pose_source(hamer, "HaMeR video", pose_fps)
    _check_same_timing_and_size(smpl_source, hamer_source)
    height, width = output_size(smpl_source.height, smpl_source.width, max_area)
    indices = frame_indices(smpl_source.length, smpl_source.fps, num_frames)
    return _PosePlan(smpl_source, hamer_source, height, width, indices)


def _load_pose_pair(plan: _PosePlan, num_frames: int, stream: bool = False) -> PreparedPoses:
    size = (plan.height, plan.width)
    if stream:
        smpl = PoseFrames(plan.smpl, plan.indices, size, "SMPL-CS pose video")
        hamer = PoseFrames(plan.hamer, plan.indices, size, "hand pose video")
    else:
        smpl = check_finite(_load_condition(plan.smpl, plan.indices, size), "SMPL-CS pose video")
        hamer = check_finite(_load_condition(plan.hamer, plan.indices, size), "hand pose video")
    return PreparedPoses(
        smpl=smpl,
        hamer=hamer,
        height=plan.height,
        width=plan.width,
        num_frames=num_frames,
        frame_indices=plan.indices,
        source_fps=plan.smpl.fps,
    )


def prepare_pose_pair(
    smpl: VideoSource,
    hamer: VideoSource,
    num_frames: int = DEFAULT_NUM_FRAMES,
    max_area: int = DEFAULT_MAX_AREA,
    pose_fps: float | None = None,
) -> PreparedPoses:
    """Select, scale and crop the SMPL-CS and HaMeR videos exactly as the release does.

    The two must match in size, frame rate and frame count, or an ``InputError`` names both and says what differs:
    the release picks frames for each video separately and crops both to the SMPL video's size, so a mismatch
    there would silently misalign hands and body in space or time. The output size comes from the SMPL
    video (``output_size``). ``pose_fps`` is the frame rate of inputs given as frames (default 16: used as they are);
    files use their own rate.
    """
    return _load_pose_pair(_plan_pose_pair(smpl, hamer, num_frames, max_area, pose_fps), num_frames)


# ---------------------------------------------------------------------------------------------------------------
# Everything at once
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedInputs:
    """All model inputs in pixel space, unbatched (add the batch axis with ``unsqueeze(0)``).

    - ``reference``: (3, Hr, Wr) for the VAE, the reference at about height*width pixels and its own aspect ratio;
    - ``reference_raw``: (3, H0, W0) the reference at its file size, for CLIP (the release resizes it only to 224);
    - ``smpl`` / ``hamer``: (3, num_frames, height, width), or ``PoseFrames`` read chunk by chunk when encoded
      (``prepare_inputs(stream_poses=True)``, for clips longer than one window);
    all float32 in [-1, 1] (resized ones slightly beyond, as bicubic overshoots and nothing clamps).
    """

    reference: torch.Tensor
    reference_raw: torch.Tensor
    smpl: torch.Tensor | PoseFrames
    hamer: torch.Tensor | PoseFrames
    height: int
    width: int
    num_frames: int
    frame_indices: list[int]
    source_fps: float


def check_inputs(
    ref_image: ImageSource,
    smpl_video: VideoSource,
    hamer_video: VideoSource,
    num_frames: int = DEFAULT_NUM_FRAMES,
    max_area: int = DEFAULT_MAX_AREA,
    pose_fps: float | None = None,
) -> tuple[int, int]:
    """Everything ``prepare_inputs`` would refuse, found without decoding a video; returns (height, width).

    Run it before loading a model, so a wrong frame count or mismatched videos fail in a second, not after minutes.
    """
    plan = _plan_pose_pair(smpl_video, hamer_video, num_frames, max_area, pose_fps)
    load_reference_image(ref_image)
    return plan.height, plan.width


def prepare_inputs(
    ref_image: ImageSource,
    smpl_video: VideoSource,
    hamer_video: VideoSource,
    num_frames: int = DEFAULT_NUM_FRAMES,
    max_area: int = DEFAULT_MAX_AREA,
    pose_fps: float | None = None,
    stream_poses: bool = False,
) -> PreparedInputs:
    """The release's whole preprocessing: reference image + SMPL + HaMeR -> ``PreparedInputs``.

    Inputs are paths or decoded pixels (ComfyUI IMAGE: float (F, H, W, 3) in [0, 1]; uint8 works too).
    ``pose_fps`` is the frame rate of pose frames; None takes them as already at 16 fps (the first ``num_frames``
    are used, or all of them stretched when fewer). Pose files always use their stored rate. Pose videos are
    checked and the reference is read before any video is decoded, so a bad input fails in well under a second.
    ``stream_poses`` leaves the pose videos unread (``PoseFrames``): the VAE reads them chunk by chunk as it
    encodes them, for long clips.
    """
    check_max_area(max_area)
    plan = _plan_pose_pair(smpl_video, hamer_video, num_frames, max_area, pose_fps)
    reference_raw = check_finite(load_reference_image(ref_image), "reference image")
    poses = _load_pose_pair(plan, num_frames, stream=stream_poses)
    reference = resize_to_area(reference_raw, poses.height * poses.width)
    return PreparedInputs(
        reference=reference,
        reference_raw=reference_raw,
        smpl=poses.smpl,
        hamer=poses.hamer,
        height=poses.height,
        width=poses.width,
        num_frames=poses.num_frames,
        frame_indices=poses.frame_indices,
        source_fps=poses.source_fps,
    )
