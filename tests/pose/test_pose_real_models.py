"""Optional checks against the real, licensed body models: set SMPLX_MODEL_DIR to a body-model folder holding
smplx/SMPLX_NEUTRAL.npz (and optionally mano/MANO_RIGHT.pkl, MANO_LEFT.pkl). Skipped otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from realisdance.pose import SMPLXParams, hand_vertex_ids, load_mano, load_smplx, pose_smplx, smplx_hand_mesh

MODEL_DIR = os.environ.get("SMPLX_MODEL_DIR")
pytestmark = pytest.mark.skipif(not MODEL_DIR, reason="SMPLX_MODEL_DIR not set (real SMPL-X files are licensed)")


@pytest.fixture(scope="module")
def real_smplx():
    return load_smplx(MODEL_DIR)


def gvhmr_like(frames: int = 3) -> SMPLXParams:
    g = torch.Generator().manual_seed(0)
    return SMPLXParams(
        global_orient=torch.randn(frames, 3, generator=g),
        body_pose=torch.randn(frames, 63, generator=g) * 0.3,
        betas=torch.randn(frames, 10, generator=g),
        transl=torch.randn(frames, 3, generator=g),
    )


def test_real_smplx_loads(real_smplx):
    assert real_smplx.num_vertices == 10475 and real_smplx.num_joints == 55
    assert real_smplx.version in ("v1.0", "v1.1")


def test_hand_vertices_from_weights_are_mano_sized(real_smplx):
    # MANO_SMPLX_vertex_ids.pkl lists 778 vertices per hand; the weight-based selection should be close.
    for side in ("left", "right"):
        assert 500 < len(hand_vertex_ids(real_smplx, side)) < 1200
    assert len(smplx_hand_mesh(real_smplx).faces) > 1500


def test_real_smplx_matches_the_smplx_package(real_smplx):
    smplx = pytest.importorskip("smplx")
    params = gvhmr_like()
    reference = smplx.create(
        MODEL_DIR, model_type="smplx", gender="neutral", use_pca=True, num_pca_comps=12, flat_hand_mean=False,
        ext=Path(real_smplx.source).suffix[1:], batch_size=params.num_frames,
    )  # fmt: skip
    with torch.no_grad():
        out = reference(global_orient=params.global_orient, body_pose=params.body_pose, betas=params.betas,
                        transl=params.transl)  # fmt: skip
    ours = pose_smplx(real_smplx, params)
    torch.testing.assert_close(ours.vertices, out.vertices, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.joints, out.joints[:, :55], atol=1e-4, rtol=0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_real_mano_loads_without_chumpy(side):
    folder = Path(MODEL_DIR)
    if not any((folder / sub / f"MANO_{side.upper()}.pkl").exists() for sub in ("mano", ".")):
        pytest.skip(f"MANO_{side.upper()}.pkl not in {folder}")
    model = load_mano(folder, side)
    assert model.num_vertices == 778 and model.num_joints == 16


@pytest.mark.parametrize("kind", ["arm waves", "turn"])
def test_motion_fit_on_the_real_body_with_the_default_landmarks(real_smplx, kind):
    """The real topology: nose, ears and finger tips on their real vertices (the procedural body cannot check those)."""
    from pose_motion_clips import BODY_JOINTS, known_motion, procrustes_error, synthetic_keypoints

    from realisdance.pose.fitting.motion import fit_motion
    from realisdance.pose.landmarks import LandmarkSet

    truth = known_motion(kind)
    keypoints = synthetic_keypoints(real_smplx, truth, LandmarkSet(), noise_px=1.0, drop=0.1)
    result = fit_motion(real_smplx, keypoints)
    fitted, true = pose_smplx(real_smplx, result.sequence.params).joints, pose_smplx(real_smplx, truth).joints
    assert result.mean_error_px < 3.0
    assert float(procrustes_error(fitted[:, BODY_JOINTS], true[:, BODY_JOINTS]).mean()) < 0.06
