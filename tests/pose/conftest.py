"""Fixtures of the pose tests: the procedural SMPL-X body (built by tests/pose_assets.py), a facing-camera pose,
the shared demo assets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from pose_assets import (
    SMPLX_PARENTS,
    build_mano_arrays,
    build_smplx_arrays,
    chumpy_pickle,
    smplx_rest_joints,
    write_smplx,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
COLOUR_TABLE = SHARED_DATA / "body" / "smplx_color.pt"


@dataclass
class ProceduralModels:
    """Builders exposed to tests (conftest functions are not importable as a module)."""

    build_smplx_arrays = staticmethod(build_smplx_arrays)
    write_smplx = staticmethod(write_smplx)
    build_mano_arrays = staticmethod(build_mano_arrays)
    chumpy_pickle = staticmethod(chumpy_pickle)
    smplx_rest_joints = staticmethod(smplx_rest_joints)
    parents = tuple(SMPLX_PARENTS)


@pytest.fixture(scope="session")
def procedural() -> ProceduralModels:
    return ProceduralModels()


@pytest.fixture(scope="session")
def smplx_dir(tmp_path_factory) -> Path:
    """A body-model folder with smplx/SMPLX_NEUTRAL.npz (v1.0 layout, no pose correctives)."""
    folder = tmp_path_factory.mktemp("body_models")
    write_smplx(folder, build_smplx_arrays())
    return folder


@pytest.fixture(scope="session")
def smplx_model(smplx_dir):
    from realisdance.pose import load_smplx

    return load_smplx(smplx_dir)


@pytest.fixture(scope="session")
def colour_table_path() -> Path:
    if not COLOUR_TABLE.exists():
        pytest.skip(f"SMPL-CS colour table not present: {COLOUR_TABLE}")
    return COLOUR_TABLE


def facing_camera_params(frames: int = 1, distance: float = 3.0, body_pose: torch.Tensor | None = None):
    """GVHMR-style in-camera parameters of the body standing upright facing the camera ``distance`` away."""
    from realisdance.pose import SMPLXParams

    pose = torch.zeros(frames, 63) if body_pose is None else body_pose.reshape(frames, 63)
    return SMPLXParams(
        global_orient=torch.tensor([[math.pi, 0.0, 0.0]]).repeat(frames, 1),  # SMPL-X y-up -> OpenCV y-down
        body_pose=pose,
        betas=torch.zeros(frames, 10),
        transl=torch.tensor([[0.0, -0.1, distance]]).repeat(frames, 1),
    )


@pytest.fixture(scope="session")
def facing_params():
    return facing_camera_params


@pytest.fixture(scope="session")
def demo_smpl_video() -> Path:
    path = SHARED_DATA / "realisdance-demo" / "smpl.mp4"
    if not path.exists():
        pytest.skip(f"RealisDance demo video not present: {path}")
    return path
