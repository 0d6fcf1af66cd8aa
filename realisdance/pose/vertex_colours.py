"""The SMPL-CS per-vertex colour table (``smplx_color.pt``: a torch-zip holding a numpy uint8 (10475, 3) array).

The table is Apache-2.0 (RealisDance / Uni3C) but is loaded from the user's body-model folder, not shipped. It is
read without ``torch.load(weights_only=False)``: the zip's pickle goes through the restricted unpickler, which
accepts numpy arrays only; a table saved as a torch tensor falls back to ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from .body_model import SMPLX_NUM_VERTICES
from .model_files import find_model_file
from .safe_pickle import safe_load, to_numpy

COLOUR_TABLE_NAME = "smplx_color"
GET_COLOURS = (
    "Download smplx_color.pt (Apache-2.0) from alibaba-damo-academy/Uni3C, "
    "third_party/GVHMR_realisdance/hmr4d/utils/body_model/smplx_color.pt (same file as damo-cv/RealisDance "
    "prepare_pose/smplerX/render_color_weight/smplx_color.pt)."
)


def find_colour_table(location: str | Path) -> Path:
    """``location`` itself if a file, else ``<folder>/smplx/smplx_color.pt`` or ``<folder>/smplx_color.pt``."""
    return find_model_file(location, "smplx", [COLOUR_TABLE_NAME], [".pt", ".npy"], "SMPL-CS colour table", GET_COLOURS)


def load_vertex_colours(location: str | Path, num_vertices: int = SMPLX_NUM_VERTICES) -> torch.Tensor:
    """(num_vertices, 3) float32 colours in [0, 1] from a colour-table file or a body-model folder."""
    path = find_colour_table(location)
    try:
        if path.suffix.lower() == ".npy":
            table = np.load(path, allow_pickle=False)
        else:
            table = _read_torch_zip(path)
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} could not be read as a colour table ({exc}). {GET_COLOURS}") from exc
    table = np.asarray(table.numpy() if isinstance(table, torch.Tensor) else table)
    if table.ndim != 2 or table.shape[1] != 3 or table.dtype.kind not in "fiu":
        raise CheckpointError(f"{path} holds a {table.dtype} array of shape {table.shape}, not (vertices, 3) colours.")
    if table.shape[0] != num_vertices:
        raise CheckpointError(
            f"{path} colours {table.shape[0]} vertices but the body model has {num_vertices}; the SMPL-CS table "
            f"is for SMPL-X (10475 vertices). {GET_COLOURS}"
        )
    colours = table.astype(np.float32)
    if table.dtype.kind in "iu" or colours.max() > 1.0:  # stored as 0..255
        colours = colours / 255.0
    return torch.from_numpy(np.clip(colours, 0.0, 1.0))


def _read_torch_zip(path: Path):
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise ValueError("no data.pkl in the archive")
        data = archive.read(pickles[0])
    try:
        return to_numpy(safe_load(data))
    except pickle.UnpicklingError:
        # Saved as a torch tensor rather than a numpy array: torch's own safe loader handles tensors.
        return torch.load(path, map_location="cpu", weights_only=True)
