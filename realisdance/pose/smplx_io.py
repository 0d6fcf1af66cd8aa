"""Load a user-supplied SMPL-X model (``SMPLX_NEUTRAL.npz`` or ``.pkl``, v1.0 or v1.1) into an :class:`SMPLXModel`.

The model is licensed by MPI (https://smpl-x.is.tue.mpg.de) and never ships with this pack; ComfyUI passes its
``models/realisdance/body_models`` folder, which should hold ``smplx/SMPLX_NEUTRAL.npz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from .body_model import HAND_POSE_DIM, SMPLX_NUM_JOINTS, SMPLX_NUM_VERTICES, SMPLXModel
from .model_files import (
    faces_array,
    find_model_file,
    float_array,
    parents_from_kintree,
    read_model_arrays,
    require_keys,
)

WHAT = "SMPL-X"
GET_SMPLX = (
    "SMPL-X cannot be shipped with this node pack (MPI licence): register at https://smpl-x.is.tue.mpg.de, "
    "download 'SMPL-X v1.1' (the npz files) and copy SMPLX_NEUTRAL.npz."
)
REQUIRED_KEYS = (
    "v_template",
    "f",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "hands_componentsl",
    "hands_componentsr",
    "hands_meanl",
    "hands_meanr",
)
# v1.1 files hold 300 identity + 100 expression directions; v1.0 files 10 + 10 (the split the smplx package uses).
V11_SHAPE, V11_EXPRESSION = 300, 100
V10_SHAPE, V10_EXPRESSION = 10, 10
_OTHER_MODELS = {6890: "SMPL or SMPL+H", 778: "MANO", 5023: "FLAME"}


def find_smplx_file(location: str | Path, gender: str = "neutral") -> Path:
    """The SMPL-X file for ``gender`` in a body-model folder (``<folder>/smplx/SMPLX_NEUTRAL.npz`` first)."""
    gender = gender.lower()
    if gender not in ("neutral", "male", "female"):
        raise CheckpointError(f"Unknown SMPL-X gender '{gender}'; use neutral, male or female.")
    stem = f"SMPLX_{gender.upper()}"
    return find_model_file(location, "smplx", [stem], [".npz", ".pkl"], f"{WHAT} body model ({gender})", GET_SMPLX)


def load_smplx(
    location: str | Path,
    gender: str = "neutral",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> SMPLXModel:
    """Load SMPL-X from a file or a body-model folder; see :func:`find_smplx_file` for the folder layout."""
    path = find_smplx_file(location, gender)
    model = smplx_from_arrays(read_model_arrays(path, WHAT), path)
    return model.to(device=device, dtype=dtype)


def smplx_from_arrays(arrays: dict, path: Path) -> SMPLXModel:
    """Check the arrays of an SMPL-X file (real shapes) and wrap them as float32 CPU tensors."""
    require_keys(arrays, REQUIRED_KEYS, path, WHAT)
    v_template = np.asarray(arrays["v_template"])
    if v_template.ndim == 2 and v_template.shape[0] != SMPLX_NUM_VERTICES:
        other = _OTHER_MODELS.get(v_template.shape[0], "another model")
        raise CheckpointError(
            f"{path} has {v_template.shape[0]} vertices: that is {other}, not SMPL-X ({SMPLX_NUM_VERTICES} "
            f"vertices). {GET_SMPLX}"
        )
    v, j = SMPLX_NUM_VERTICES, SMPLX_NUM_JOINTS
    v_template = float_array(arrays, "v_template", (v, 3), path, WHAT)
    shapedirs = float_array(arrays, "shapedirs", (v, 3, None), path, WHAT)
    posedirs = np.asarray(arrays["posedirs"])
    if posedirs.ndim == 2 and posedirs.shape[0] == v * 3:  # some exports flatten (V*3, P)
        arrays = {**arrays, "posedirs": posedirs.reshape(v, 3, -1)}
    posedirs = float_array(arrays, "posedirs", (v, 3, (j - 1) * 9), path, WHAT)
    j_regressor = float_array(arrays, "J_regressor", (j, v), path, WHAT)
    weights = float_array(arrays, "weights", (v, j), path, WHAT)
    parents = parents_from_kintree(arrays["kintree_table"], j, path, WHAT)
    faces = faces_array(arrays, v, path, WHAT)
    hands = {
        key: float_array(arrays, key, (None, HAND_POSE_DIM), path, WHAT)
        for key in ("hands_componentsl", "hands_componentsr")
    }
    means = {key: float_array(arrays, key, (HAND_POSE_DIM,), path, WHAT) for key in ("hands_meanl", "hands_meanr")}

    total = shapedirs.shape[-1]
    if total >= V11_SHAPE + V11_EXPRESSION:
        identity, expression, version = shapedirs[..., :V11_SHAPE], shapedirs[..., V11_SHAPE:400], "v1.1"
    elif total >= 1:
        identity = shapedirs[..., : min(V10_SHAPE, total)]
        expression, version = shapedirs[..., V10_SHAPE : V10_SHAPE + V10_EXPRESSION], "v1.0"
    else:
        raise CheckpointError(f"{path}: 'shapedirs' has no shape directions.")

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array))

    return SMPLXModel(
        v_template=tensor(v_template),
        faces=tensor(faces),
        shapedirs=tensor(identity),
        posedirs=tensor(posedirs),
        j_regressor=tensor(j_regressor),
        weights=tensor(weights),
        parents=tensor(parents),
        expr_dirs=tensor(expression),
        left_hand_components=tensor(hands["hands_componentsl"]),
        right_hand_components=tensor(hands["hands_componentsr"]),
        left_hand_mean=tensor(means["hands_meanl"]),
        right_hand_mean=tensor(means["hands_meanr"]),
        version=version,
        source=str(path),
    )
