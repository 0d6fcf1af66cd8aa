"""Load a user-supplied MANO hand model (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) into a :class:`MANOModel`.

The official pickles hold chumpy objects and a scipy sparse joint regressor; :mod:`.safe_pickle` reads them
without chumpy or scipy installed. MANO is licensed by MPI (https://mano.is.tue.mpg.de) and never ships here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from .body_model import HAND_POSE_DIM, MANO_NUM_JOINTS, MANO_NUM_VERTICES, MANOModel
from .model_files import (
    faces_array,
    find_model_file,
    float_array,
    parents_from_kintree,
    read_model_arrays,
    require_keys,
)

WHAT = "MANO"
GET_MANO = (
    "MANO cannot be shipped with this node pack (MPI licence): register at https://mano.is.tue.mpg.de, download "
    "'Models & Code' and copy MANO_RIGHT.pkl and MANO_LEFT.pkl from its models/ folder."
)
REQUIRED_KEYS = (
    "v_template",
    "f",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "hands_components",
    "hands_mean",
)


def find_mano_file(location: str | Path, side: str = "right") -> Path:
    """The MANO file for ``side`` in a body-model folder (``<folder>/mano/MANO_RIGHT.pkl`` first)."""
    side = side.lower()
    if side not in ("right", "left"):
        raise CheckpointError(f"Unknown MANO side '{side}'; use right or left.")
    stem = f"MANO_{side.upper()}"
    return find_model_file(location, "mano", [stem], [".pkl", ".npz"], f"{WHAT} hand model ({side})", GET_MANO)


def load_mano(
    location: str | Path,
    side: str = "right",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> MANOModel:
    """Load MANO for one hand from a file or a body-model folder; see :func:`find_mano_file`."""
    path = find_mano_file(location, side)
    return mano_from_arrays(read_model_arrays(path, WHAT), path, is_right=side.lower() == "right").to(
        device=device, dtype=dtype
    )


def mano_from_arrays(arrays: dict, path: Path, is_right: bool) -> MANOModel:
    require_keys(arrays, REQUIRED_KEYS, path, WHAT)
    v, j = MANO_NUM_VERTICES, MANO_NUM_JOINTS
    v_template = np.asarray(arrays["v_template"])
    if v_template.ndim == 2 and v_template.shape[0] != v:
        raise CheckpointError(
            f"{path} has {v_template.shape[0]} vertices; a MANO hand has {v}. Use MANO_RIGHT.pkl / MANO_LEFT.pkl "
            "from the MANO release (not the SMPL+H or SMPL-X files)."
        )

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array))

    return MANOModel(
        v_template=tensor(float_array(arrays, "v_template", (v, 3), path, WHAT)),
        faces=tensor(faces_array(arrays, v, path, WHAT)),
        shapedirs=tensor(float_array(arrays, "shapedirs", (v, 3, None), path, WHAT)),
        posedirs=tensor(float_array(arrays, "posedirs", (v, 3, (j - 1) * 9), path, WHAT)),
        j_regressor=tensor(float_array(arrays, "J_regressor", (j, v), path, WHAT)),
        weights=tensor(float_array(arrays, "weights", (v, j), path, WHAT)),
        parents=tensor(parents_from_kintree(arrays["kintree_table"], j, path, WHAT)),
        hand_components=tensor(float_array(arrays, "hands_components", (None, HAND_POSE_DIM), path, WHAT)),
        hand_mean=tensor(float_array(arrays, "hands_mean", (HAND_POSE_DIM,), path, WHAT)),
        is_right=is_right,
        source=str(path),
    )
