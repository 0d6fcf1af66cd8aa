"""Import HaMeR hand meshes and register them onto the SMPL-X hands, so the hand video shows HaMeR's fingers.

Accepted files (.npz, .pt, .pkl; pickles go through the restricted body-model unpickler, no code runs):

* the simple format of this pack: ``vertices`` (F, H, 778, 3) and ``is_right`` (F, H) (0/1), optionally
  ``valid`` (F, H) for frames with fewer than H hands;
* the RealisDance/Uni3C dump ``hamer_info.pkl``: a list with one entry per frame, None (no hands) or a dict
  with ``all_verts`` (list of (778, 3)) and ``all_right`` (list of 0/1);
* per-frame HaMeR demo outputs: a list of None or dicts with ``pred_vertices`` (N, 778, 3) and ``is_right`` (N,).

Vertices are MANO's (778, in MANO's vertex order); HaMeR's camera (``pred_cam_t``, focal length) is not needed
because each hand is placed by a similarity fit onto the posed SMPL-X hand (Umeyama: scale, rotation,
translation), as Uni3C's ``alignment.py`` does. That needs the MANO -> SMPL-X vertex correspondence
``MANO_SMPLX_vertex_ids.pkl`` (``left_hand``, ``right_hand``: 778 SMPL-X vertex ids each), which ships with
SMPL-X. HaMeR predicts left hands as mirrored right hands; whether a dump has flipped them back is detected per
hand by fitting both and keeping the better one.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..unpickling import torch_load_plain, unreadable
from .body_model import MANO_NUM_VERTICES, SMPLXModel
from .hands import LEFT_HAND_COLOUR, RIGHT_HAND_COLOUR, HandMesh
from .posing import pose_smplx
from .safe_pickle import safe_load, to_numpy
from .smplx_params import SMPLXSequence
from .umeyama import fit_similarity

CORRESPONDENCE_FILE = "MANO_SMPLX_vertex_ids.pkl"
_MIRROR_X = torch.tensor([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class HandDetections:
    """Per frame: vertices (H, 778, 3) and is_right (H,) bool of the hands found in that frame (H may be 0)."""

    vertices: tuple[torch.Tensor, ...]
    is_right: tuple[torch.Tensor, ...]

    @property
    def num_frames(self) -> int:
        return len(self.vertices)


@dataclass(frozen=True)
class ManoCorrespondence:
    """The SMPL-X vertex of every MANO vertex: left (778,) and right (778,) long."""

    left: torch.Tensor
    right: torch.Tensor


def load_hamer(path: str | Path) -> HandDetections:
    """Read a HaMeR dump in one of the formats of the module docstring."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"HaMeR file not found: {path}.")
    return hamer_detections(_read_arrays(path), source=str(path))


def hamer_detections(data: Any, source: str = "the HaMeR data") -> HandDetections:
    """Parse already loaded HaMeR data (see :func:`load_hamer`)."""
    if isinstance(data, Mapping) and "vertices" in data:
        return _from_arrays(data, source)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        frames = [_from_frame(entry, index, source) for index, entry in enumerate(data)]
        if not frames:
            raise InputError(f"{source} holds no frames.")
        return HandDetections(tuple(f[0] for f in frames), tuple(f[1] for f in frames))
    keys = ", ".join(sorted(map(str, data))) if isinstance(data, Mapping) else type(data).__name__
    raise InputError(
        f"{source} is not a known HaMeR format (found: {keys}); save 'vertices' (F, H, 778, 3) and 'is_right' (F, H)."
    )


def load_mano_correspondence(location: str | Path) -> ManoCorrespondence:
    """MANO_SMPLX_vertex_ids.pkl (or .npz) from a file or a body-model folder (searched, with its smplx/)."""
    location = Path(location).expanduser()
    candidates = [location] if location.is_file() else [location / CORRESPONDENCE_FILE]
    candidates += [location / "smplx" / CORRESPONDENCE_FILE] if location.is_dir() else []
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise InputError(
            f"{CORRESPONDENCE_FILE} not found in {location}; it comes with the SMPL-X download (model_transfer or "
            "the SMPL-X 'MANO and FLAME vertex indices' package). Put it next to SMPLX_NEUTRAL.npz."
        )
    data = _read_arrays(path)
    ids = {}
    for side in ("left_hand", "right_hand"):
        value = data.get(side) if isinstance(data, Mapping) else None
        if value is None or np.asarray(value).reshape(-1).shape[0] != MANO_NUM_VERTICES:
            raise InputError(f"{path} needs '{side}' with {MANO_NUM_VERTICES} SMPL-X vertex ids.")
        ids[side] = torch.as_tensor(np.asarray(value).reshape(-1).astype(np.int64))
    return ManoCorrespondence(left=ids["left_hand"], right=ids["right_hand"])


def mano_hand_mesh(model: SMPLXModel, correspondence: ManoCorrespondence) -> HandMesh:
    """Both hands as the 2 x 778 MANO vertices (left first), with the SMPL-X faces among them (the SMPL-X hand
    is MANO's topology, so these are MANO's triangles without needing the MANO files)."""
    vertex_ids = torch.cat([correspondence.left, correspondence.right]).to(model.faces.device)
    if int(vertex_ids.min()) < 0 or int(vertex_ids.max()) >= model.num_vertices:
        raise InputError(
            f"The MANO -> SMPL-X correspondence names vertices outside the {model.num_vertices}-vertex mesh."
        )
    local = torch.full((model.num_vertices,), -1, dtype=torch.long, device=vertex_ids.device)
    local[vertex_ids] = torch.arange(vertex_ids.numel(), device=vertex_ids.device)
    mapped = local[model.faces]
    faces = mapped[(mapped >= 0).all(-1)]
    is_right = torch.arange(vertex_ids.numel(), device=vertex_ids.device) >= MANO_NUM_VERTICES
    palette = torch.tensor([LEFT_HAND_COLOUR, RIGHT_HAND_COLOUR], dtype=model.dtype, device=vertex_ids.device)
    return HandMesh(vertex_ids=vertex_ids, faces=faces, is_right=is_right, colours=palette[is_right.long()])


def register_hamer_hands(
    model: SMPLXModel, sequence: SMPLXSequence, detections: HandDetections, correspondence: ManoCorrespondence
) -> torch.Tensor:
    """(F, 1556, 3) camera-space hand vertices for :func:`mano_hand_mesh`: each detected hand fitted onto the posed
    SMPL-X hand; a hand HaMeR missed keeps the SMPL-X hand's own vertices. Among several detections of one side,
    the one that fits the SMPL-X hand best is used."""
    if detections.num_frames != sequence.num_frames:
        raise InputError(
            f"The HaMeR data has {detections.num_frames} frames but the SMPL-X sequence {sequence.num_frames}; "
            "run HaMeR on the same (equally trimmed) driving video."
        )
    ids = torch.cat([correspondence.left, correspondence.right]).to(model.device)
    out = []
    for start in range(0, sequence.num_frames, 16):
        body = pose_smplx(model, sequence.params.select(slice(start, start + 16))).vertices[:, ids]
        for offset in range(body.shape[0]):
            frame = start + offset
            targets = body[offset].float().cpu()
            hands = [targets[:MANO_NUM_VERTICES], targets[MANO_NUM_VERTICES:]]
            for side, right in enumerate((False, True)):
                chosen = detections.vertices[frame][detections.is_right[frame] == right]
                best = _best_registration(chosen, hands[side], mirrored_too=not right)
                if best is not None:
                    hands[side] = best
            out.append(torch.cat(hands))
    return torch.stack(out)


def _best_registration(candidates: torch.Tensor, target: torch.Tensor, mirrored_too: bool) -> torch.Tensor | None:
    best, best_error = None, float("inf")
    for vertices in candidates:
        options = [vertices, vertices * _MIRROR_X] if mirrored_too else [vertices]
        for source in options:
            registered = fit_similarity(source, target).apply(source)
            error = float((registered - target).square().sum(-1).mean())
            if error < best_error:
                best, best_error = registered, error
    return best


def _read_arrays(path: Path) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        if suffix in (".pt", ".pth"):
            return torch_load_plain(path, "HaMeR")
        if suffix in (".pkl", ".pickle"):
            return to_numpy(safe_load(path.read_bytes()))
    except (pickle.UnpicklingError, ValueError, OSError, EOFError, RuntimeError) as exc:
        raise unreadable(path, "HaMeR", exc) from None
    raise InputError(f"{path}: unsupported file type '{suffix}'; use .npz, .pt or .pkl.")


def _vertices(value: Any, where: str) -> torch.Tensor:
    array = torch.as_tensor(
        np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float32)
    )
    if array.dim() == 2:
        array = array[None]
    if array.dim() != 3 or tuple(array.shape[1:]) != (MANO_NUM_VERTICES, 3):
        raise InputError(
            f"{where}: hand vertices have shape {tuple(array.shape)}; HaMeR hands are MANO meshes with "
            f"{MANO_NUM_VERTICES} vertices, (hands, {MANO_NUM_VERTICES}, 3)."
        )
    if not bool(torch.isfinite(array).all()):
        raise InputError(f"{where}: hand vertices contain NaN or infinite values.")
    return array


def _flags(value: Any, count: int, where: str) -> torch.Tensor:
    flags = torch.as_tensor(np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value)).reshape(-1)
    if flags.numel() != count:
        raise InputError(f"{where}: {flags.numel()} is_right flags for {count} hands.")
    return flags.bool() if flags.dtype == torch.bool else flags.round() > 0


def _from_arrays(data: Mapping, source: str) -> HandDetections:
    vertices = np.asarray(data["vertices"], dtype=np.float32)
    if vertices.ndim != 4:
        raise InputError(f"{source}: 'vertices' must be (frames, hands, 778, 3), got {vertices.shape}.")
    if "is_right" not in data:
        raise InputError(f"{source} has 'vertices' but no 'is_right' (frames, hands) flags.")
    frames, hands = vertices.shape[:2]
    is_right = (
        np.asarray(data["is_right"]).reshape(frames, hands) if np.size(data["is_right"]) == frames * hands else None
    )
    if is_right is None:
        raise InputError(f"{source}: 'is_right' must be (frames, hands) = ({frames}, {hands}).")
    valid = (
        np.ones((frames, hands), dtype=bool) if data.get("valid") is None else np.asarray(data["valid"]).astype(bool)
    )
    if valid.shape != (frames, hands):
        raise InputError(f"{source}: 'valid' must be (frames, hands) = ({frames}, {hands}), got {valid.shape}.")
    verts, flags = [], []
    for f in range(frames):
        where = f"{source}, frame {f}"
        keep = valid[f]
        verts.append(_vertices(vertices[f][keep], where) if keep.any() else torch.zeros(0, MANO_NUM_VERTICES, 3))
        flags.append(_flags(is_right[f][keep], int(keep.sum()), where))
    return HandDetections(tuple(verts), tuple(flags))


def _from_frame(entry: Any, index: int, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    where = f"{source}, frame {index}"
    if entry is None:
        return torch.zeros(0, MANO_NUM_VERTICES, 3), torch.zeros(0, dtype=torch.bool)
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} is a {type(entry).__name__}; expected None or a dict of hand arrays.")
    for vert_key, flag_key in (("all_verts", "all_right"), ("pred_vertices", "is_right"), ("vertices", "is_right")):
        if vert_key in entry:
            if flag_key not in entry:
                raise InputError(f"{where} has '{vert_key}' but no '{flag_key}'.")
            values = entry[vert_key]
            if isinstance(values, list | tuple) and len(values) == 0:
                return torch.zeros(0, MANO_NUM_VERTICES, 3), torch.zeros(0, dtype=torch.bool)
            vertices = _vertices(
                np.stack([np.asarray(v) for v in values]) if isinstance(values, list | tuple) else values, where
            )
            return vertices, _flags(entry[flag_key], vertices.shape[0], where)
    raise InputError(
        f"{where} has none of 'all_verts', 'pred_vertices' or 'vertices' (found: {', '.join(map(str, entry))})."
    )
