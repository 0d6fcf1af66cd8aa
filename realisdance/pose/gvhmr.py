"""Import GVHMR results (``hmr4d_results.pt`` / ``pred.pt``) as an :class:`SMPLXSequence`.

GVHMR's demo saves ``{"smpl_params_global", "smpl_params_incam", "K_fullimg", "net_outputs"}`` with torch.save.
The in-camera parameters (global_orient, body_pose, betas, transl; axis-angle, OpenCV camera frame) posed with
SMPL-X neutral (12 hand PCA components, flat_hand_mean=False, hands and face at zero) and projected with
``K_fullimg`` reproduce the video; that is what RealisDance's SMPL-CS and hand renders use. The file stores
neither the video size nor its frame rate: the size is read from K's principal point (GVHMR's default and
focal-length options put it at the image centre) unless given, and fps is passed through.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..unpickling import torch_load_plain, unreadable
from .smplx_params import SMPLXParams, SMPLXSequence

GVHMR_HAND_PCA = True  # GVHMR's SMPL-X: num_pca_comps=12 ...
GVHMR_FLAT_HAND_MEAN = False  # ... and the relaxed mean hand
SIZE_TOLERANCE_PX = 1.0
ASPECT_TOLERANCE = 0.01


def load_gvhmr(
    path: str | Path,
    image_size: tuple[int, int] | None = None,
    fps: float | None = None,
    params_key: str = "smpl_params_incam",
    match_intrinsics: bool = True,
    trust_pickle: bool = False,
) -> SMPLXSequence:
    """Read a GVHMR result file.

    image_size (width, height) of the driving video; None reads it from K. With ``match_intrinsics``, a video
    that was resized after GVHMR ran (same aspect ratio) gets K scaled to it, and a size K cannot belong to is an
    error; without it K is taken as is. ``trust_pickle`` allows full unpickling for files that hold more than
    tensors in ``net_outputs`` (only for files you made yourself: unpickling can run code).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"GVHMR result not found: {path}. Run GVHMR's demo and pass its hmr4d_results.pt.")
    if trust_pickle:  # the caller vouches for the file (never set by a node or the command line)
        try:
            pred = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # a damaged file fails anywhere inside torch's zip or pickle readers
            raise unreadable(path, "GVHMR result", error) from None
    else:
        pred = torch_load_plain(path, "GVHMR result")
    return gvhmr_sequence(pred, image_size, fps, params_key, match_intrinsics, source=str(path))


def gvhmr_sequence(
    pred: Any,
    image_size: tuple[int, int] | None = None,
    fps: float | None = None,
    params_key: str = "smpl_params_incam",
    match_intrinsics: bool = True,
    source: str = "",
) -> SMPLXSequence:
    """Build the sequence from an already loaded GVHMR result dict (see :func:`load_gvhmr`)."""
    name = source or "the GVHMR result"
    if not isinstance(pred, Mapping) or params_key not in pred or "K_fullimg" not in pred:
        keys = ", ".join(sorted(map(str, pred))) if isinstance(pred, Mapping) else type(pred).__name__
        raise InputError(f"{name} lacks '{params_key}' or 'K_fullimg' (found: {keys}); is it GVHMR's output?")
    if not isinstance(pred[params_key], Mapping):
        raise InputError(f"{name}: '{params_key}' should be a dict of parameter tensors.")
    params = SMPLXParams.from_mapping(
        pred[params_key], hand_pose_pca=GVHMR_HAND_PCA, flat_hand_mean=GVHMR_FLAT_HAND_MEAN
    )

    k = pred["K_fullimg"]
    k = torch.from_numpy(np.asarray(k)) if not isinstance(k, torch.Tensor) else k
    k = k.detach().to(device="cpu", dtype=torch.float32)
    if k.shape == (3, 3):
        k = k[None]
    if k.dim() != 3 or tuple(k.shape[1:]) != (3, 3):
        raise InputError(f"{name}: K_fullimg has shape {tuple(k.shape)}, expected (frames, 3, 3).")
    if k.shape[0] == 1 and params.num_frames > 1:
        k = k.expand(params.num_frames, 3, 3).contiguous()

    implied = (float(2 * k[0, 0, 2]), float(2 * k[0, 1, 2]))  # principal point at the centre -> image size
    if image_size is None:
        width, height = round(implied[0]), round(implied[1])
        return SMPLXSequence(params, k, width, height, fps, source)
    width, height = int(image_size[0]), int(image_size[1])
    sequence = SMPLXSequence(params, k, width, height, fps, source)
    if not match_intrinsics:
        return sequence
    if abs(implied[0] - width) <= SIZE_TOLERANCE_PX and abs(implied[1] - height) <= SIZE_TOLERANCE_PX:
        return sequence
    if implied[1] > 0 and abs((implied[0] / implied[1]) / (width / height) - 1) <= ASPECT_TOLERANCE:
        # The driving video was resampled after GVHMR ran: the same camera, K scaled to the new pixels.
        original = SMPLXSequence(params, k, round(implied[0]), round(implied[1]), fps, source)
        return original.resized(width, height)
    raise InputError(
        f"{name}: K_fullimg belongs to a {implied[0]:.0f}x{implied[1]:.0f} image (principal point at its centre) "
        f"but the driving video is {width}x{height} with another aspect ratio. Run GVHMR on this video, or "
        "disable intrinsics matching if your K has an off-centre principal point."
    )
