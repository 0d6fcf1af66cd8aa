"""Loading SMPL-X / MANO files: real keys and shapes, v1.0 and v1.1 layouts, chumpy pickles, clear errors."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
import torch

from realisdance.errors import CheckpointError
from realisdance.pose import find_smplx_file, load_mano, load_smplx
from realisdance.pose.safe_pickle import safe_load, to_numpy


def test_smplx_npz_v10_loads_with_real_shapes(smplx_model, procedural):
    model = smplx_model
    assert model.version == "v1.0"
    assert tuple(model.v_template.shape) == (10475, 3)
    assert tuple(model.faces.shape) == (20908, 3) and model.faces.dtype == torch.int64
    assert tuple(model.j_regressor.shape) == (55, 10475)
    assert tuple(model.weights.shape) == (10475, 55)
    assert tuple(model.posedirs.shape) == (10475, 3, 486)
    assert tuple(model.shapedirs.shape) == (10475, 3, 10)  # v1.0: 10 identity + 10 expression
    assert tuple(model.expr_dirs.shape) == (10475, 3, 10)
    assert tuple(model.left_hand_components.shape) == (45, 45)
    assert model.parents.tolist() == [-1, *procedural.parents[1:]]  # root stored as 2**32-1 in the file


def test_smplx_v11_pkl_splits_300_shape_and_100_expression(tmp_path, procedural):
    arrays = procedural.build_smplx_arrays(shape_columns=400)
    path = procedural.write_smplx(tmp_path, arrays, suffix=".pkl")
    model = load_smplx(tmp_path)
    assert model.source == str(path)
    assert model.version == "v1.1"
    assert model.num_shape_coeffs == 300 and model.num_expression_coeffs == 100
    np.testing.assert_array_equal(model.shapedirs[..., :3].numpy(), arrays["shapedirs"][..., :3])
    np.testing.assert_array_equal(model.expr_dirs.numpy(), arrays["shapedirs"][..., 300:400])


def test_find_smplx_file_layouts(tmp_path, procedural):
    arrays = procedural.build_smplx_arrays()
    nested = procedural.write_smplx(tmp_path / "a", arrays)
    assert find_smplx_file(tmp_path / "a") == nested
    assert find_smplx_file(nested) == nested  # a file path is taken as is
    flat = tmp_path / "b" / "SMPLX_NEUTRAL.npz"
    flat.parent.mkdir()
    nested.rename(flat)
    assert find_smplx_file(tmp_path / "b") == flat


def test_missing_smplx_says_what_and_where(tmp_path):
    with pytest.raises(CheckpointError) as info:
        load_smplx(tmp_path)
    message = str(info.value)
    assert "SMPLX_NEUTRAL.npz" in message and str(tmp_path) in message
    assert "smpl-x.is.tue.mpg.de" in message and os.path.join(str(tmp_path), "smplx") in message
    with pytest.raises(CheckpointError, match="file not found"):
        load_smplx(tmp_path / "SMPLX_MALE.npz")


def test_smpl_file_is_rejected_as_not_smplx(tmp_path, procedural):
    arrays = procedural.build_smplx_arrays()
    arrays["v_template"] = np.zeros((6890, 3), np.float32)
    procedural.write_smplx(tmp_path, arrays)
    with pytest.raises(CheckpointError, match="SMPL or SMPL\\+H"):
        load_smplx(tmp_path)


def test_missing_key_and_wrong_shape_are_named(tmp_path, procedural):
    arrays = procedural.build_smplx_arrays()
    del arrays["hands_componentsl"]
    procedural.write_smplx(tmp_path / "a", arrays)
    with pytest.raises(CheckpointError, match="hands_componentsl"):
        load_smplx(tmp_path / "a")
    arrays = procedural.build_smplx_arrays()
    arrays["posedirs"] = arrays["posedirs"][..., :100]
    procedural.write_smplx(tmp_path / "b", arrays)
    with pytest.raises(CheckpointError, match="posedirs"):
        load_smplx(tmp_path / "b")


def test_corrupt_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "smplx" / "SMPLX_NEUTRAL.npz"
    path.parent.mkdir()
    path.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_smplx(tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_foreign_objects_is_refused(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Exploit()}, protocol=2))
    with pytest.raises(CheckpointError, match="holds posix.system, which is not plain data, so it was not unpickled"):
        load_smplx(path)


def test_mano_with_chumpy_objects_loads_without_chumpy(tmp_path, procedural):
    arrays = procedural.build_mano_arrays()
    path = tmp_path / "mano" / "MANO_RIGHT.pkl"
    path.parent.mkdir()
    path.write_bytes(procedural.chumpy_pickle(arrays))
    assert "chumpy" not in sys.modules
    model = load_mano(tmp_path, "right")
    assert model.is_right and model.num_vertices == 778 and model.num_joints == 16
    assert tuple(model.faces.shape) == (1538, 3)
    np.testing.assert_allclose(model.v_template.numpy(), arrays["v_template"], atol=1e-7)
    np.testing.assert_allclose(model.j_regressor.numpy(), arrays["J_regressor"].toarray(), atol=1e-7)
    assert model.parents[0] == -1


def test_missing_mano_names_file_and_site(tmp_path):
    with pytest.raises(CheckpointError) as info:
        load_mano(tmp_path, "left")
    assert "MANO_LEFT.pkl" in str(info.value) and "mano.is.tue.mpg.de" in str(info.value)


def test_mano_with_wrong_vertex_count(tmp_path, procedural):
    arrays = procedural.build_mano_arrays()
    arrays["v_template"] = np.zeros((100, 3))
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(CheckpointError, match="778"):
        load_mano(path)


@pytest.mark.parametrize("fmt", ["csc", "csr", "coo"])
def test_sparse_stub_densifies_like_scipy(fmt):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    dense = np.zeros((4, 6), np.float32)
    dense[0, 1], dense[3, 5], dense[2, 0] = 1.5, -2.0, 0.25
    matrix = getattr(scipy_sparse, f"{fmt}_matrix")(dense)
    restored = to_numpy(safe_load(pickle.dumps({"m": matrix}, protocol=2)))["m"]
    np.testing.assert_array_equal(restored, dense)
