"""The ``<out>.latents.pt`` file: the sampled latents, saved before decoding so a decode failure never loses them."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

OUTPUT_FPS = 16  # the release writes 16 fps videos; files from before the dict format carry no rate
LATENTS_SUFFIX = ".latents.pt"
LATENTS_FORMAT = "realisdance-latents"  # marks our dict format; files from before it hold a bare tensor
LATENT_CHANNELS = 16  # the Wan 2.1 VAE


@dataclass
class SavedLatents:
    latents: object  # torch.Tensor (1, 16, T, H/8, W/8), normalised as the DiT samples them
    fps: float

    @property
    def frames(self) -> int:
        return 4 * (self.latents.shape[2] - 1) + 1

    def describe(self) -> str:
        height, width = self.latents.shape[3] * 8, self.latents.shape[4] * 8
        return f"{self.frames} frames at {width}x{height}"


def latents_path_for(out: Path) -> Path:
    return out.with_name(out.name + LATENTS_SUFFIX)


def save_latents(path: Path, latents, fps: float = OUTPUT_FPS) -> None:
    """Write the sampled latents with what decoding needs besides them, atomically (never a half-written file)."""
    import torch

    latents = latents.detach().cpu()
    record = {
        "format": LATENTS_FORMAT,
        "version": 1,
        "latents": latents,
        "fps": float(fps),
        "frames": 4 * (latents.shape[2] - 1) + 1,
        "height": latents.shape[3] * 8,
        "width": latents.shape[4] * 8,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        torch.save(record, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_latents(path) -> SavedLatents:
    """The latents ``animate`` saved: our dict format, or the bare tensor older versions wrote (16 fps)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give the <out>.mp4{LATENTS_SUFFIX} file that animate saved")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pickle, zip and torch's own errors (their text is no help here): not a file we wrote
        raise InputError(
            f"{path} is not a latents file saved by animate (torch cannot read it); give the "
            f"<out>.mp4{LATENTS_SUFFIX} file that animate saved"
        ) from None
    if isinstance(data, dict) and data.get("format") == LATENTS_FORMAT:
        latents, fps = data.get("latents"), float(data.get("fps", OUTPUT_FPS))
    elif isinstance(data, torch.Tensor):
        latents, fps = data, float(OUTPUT_FPS)
    else:
        raise InputError(f"{path} is not a latents file saved by animate (it holds a {type(data).__name__})")
    if not isinstance(latents, torch.Tensor) or latents.ndim != 5 or latents.shape[0] != 1:
        shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise InputError(f"{path} holds {shape}, not latents of one video (1, {LATENT_CHANNELS}, T, H/8, W/8)")
    if latents.shape[1] != LATENT_CHANNELS:
        raise InputError(
            f"{path} holds latents with {latents.shape[1]} channels, but the Wan 2.1 VAE decodes "
            f"{LATENT_CHANNELS}; use a latents file saved by RealisDance-DiT's animate"
        )
    if not 1.0 <= fps <= 240.0:  # NaN fails too; a 1e-9 fps would come out as the encoder's fallback rate
        raise InputError(f"{path} records a frame rate of {fps}; the file is damaged, animate writes 16")
    if not bool(torch.isfinite(latents).all()):
        raise InputError(f"{path} holds NaN or infinite latents; sample again (the weights or inputs were bad).")
    return SavedLatents(latents.float(), fps)
