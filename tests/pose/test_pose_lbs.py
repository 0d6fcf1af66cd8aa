"""Linear blend skinning and SMPL-X / MANO posing on the procedural models (and against ``smplx`` if installed)."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import SMPLXParams, axis_angle_to_matrix, load_mano, load_smplx, pose_mano, pose_smplx
from realisdance.pose.posing import smplx_full_pose

LEFT_SHOULDER, LEFT_WRIST, RIGHT_WRIST, LEFT_ANKLE, LEFT_HIP = 16, 20, 21, 7, 1


def rest_params(frames: int = 1, betas: torch.Tensor | None = None, **overrides) -> SMPLXParams:
    values = dict(
        global_orient=torch.zeros(frames, 3),
        body_pose=torch.zeros(frames, 63),
        betas=torch.zeros(frames, 10) if betas is None else betas,
        transl=torch.zeros(frames, 3),
        flat_hand_mean=True,  # zero hand coefficients then mean a flat (rest) hand
    )
    values.update(overrides)
    return SMPLXParams(**values)


def random_params(frames: int, seed: int = 0, pca: bool = True) -> SMPLXParams:
    g = torch.Generator().manual_seed(seed)
    hand_width = 12 if pca else 45
    return SMPLXParams(
        global_orient=torch.randn(frames, 3, generator=g) * 0.7,
        body_pose=torch.randn(frames, 63, generator=g) * 0.3,
        betas=torch.randn(frames, 10, generator=g),
        transl=torch.randn(frames, 3, generator=g),
        left_hand_pose=torch.randn(frames, hand_width, generator=g) * 0.5,
        right_hand_pose=torch.randn(frames, hand_width, generator=g) * 0.5,
        jaw_pose=torch.randn(frames, 3, generator=g) * 0.2,
        leye_pose=torch.randn(frames, 3, generator=g) * 0.1,
        reye_pose=torch.randn(frames, 3, generator=g) * 0.1,
        expression=torch.randn(frames, 10, generator=g),
        hand_pose_pca=pca,
    )


def test_axis_angle_matches_scipy_and_is_smooth_at_zero():
    rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    g = torch.Generator().manual_seed(0)
    vectors = torch.cat([torch.randn(50, 3, generator=g, dtype=torch.float64) * 2, torch.zeros(1, 3).double()])
    vectors = torch.cat([vectors, torch.full((1, 3), 1e-5, dtype=torch.float64)])
    expected = rotation.from_rotvec(vectors.numpy()).as_matrix()
    np.testing.assert_allclose(axis_angle_to_matrix(vectors).numpy(), expected, atol=1e-12)
    zero = torch.zeros(3, requires_grad=True)
    axis_angle_to_matrix(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_rest_pose_is_template_plus_shape_offsets(smplx_model):
    betas = torch.tensor([[0.5, -1.0, 0.3, 0.2, 0, 0, 0, 0, 0, 0.1]])
    out = pose_smplx(smplx_model, rest_params(betas=betas))
    expected = smplx_model.v_template + torch.einsum("k,vck->vc", betas[0], smplx_model.shapedirs)
    torch.testing.assert_close(out.vertices[0], expected, atol=1e-6, rtol=0)
    # Rest joints are the regressor applied to the shaped mesh.
    torch.testing.assert_close(out.joints[0], smplx_model.j_regressor @ expected, atol=1e-6, rtol=0)


def test_rest_joints_match_the_skeleton_the_file_was_built_from(smplx_model, procedural):
    out = pose_smplx(smplx_model, rest_params())
    np.testing.assert_allclose(out.joints[0].numpy(), procedural.smplx_rest_joints(), atol=1e-6)


def test_rotating_the_left_shoulder_moves_the_left_wrist_only(smplx_model):
    body_pose = torch.zeros(1, 63)
    body_pose[0, (LEFT_SHOULDER - 1) * 3 + 2] = math.pi / 2  # about z: the T-pose arm swings up
    rest = pose_smplx(smplx_model, rest_params())
    posed = pose_smplx(smplx_model, rest_params(body_pose=body_pose))
    shoulder = rest.joints[0, LEFT_SHOULDER]
    assert (posed.joints[0, LEFT_WRIST] - rest.joints[0, LEFT_WRIST]).norm() > 0.3
    # A rigid rotation about the shoulder keeps the arm's length.
    torch.testing.assert_close(
        (posed.joints[0, LEFT_WRIST] - shoulder).norm(), (rest.joints[0, LEFT_WRIST] - shoulder).norm()
    )
    torch.testing.assert_close(posed.joints[0, RIGHT_WRIST], rest.joints[0, RIGHT_WRIST], atol=1e-6, rtol=0)
    right_arm = torch.isin(smplx_model.weights.argmax(-1), torch.tensor([17, 19, 21, *range(40, 55)]))
    torch.testing.assert_close(posed.vertices[0, right_arm], rest.vertices[0, right_arm], atol=1e-6, rtol=0)


def test_shape_directions_change_height_and_leg_length(smplx_model):
    def measure(betas):
        out = pose_smplx(smplx_model, rest_params(betas=torch.tensor([betas + [0.0] * (10 - len(betas))])))
        height = out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min()
        leg = (out.joints[0, LEFT_HIP] - out.joints[0, LEFT_ANKLE]).norm()
        return float(height), float(leg)

    h0, leg0 = measure([0.0])
    h1, _ = measure([1.0])
    _, leg2 = measure([0.0, 0.0, 1.0])
    assert h1 > h0 * 1.05  # beta 0 scales the body by 10 %
    assert leg2 > leg0 + 0.05  # beta 2 stretches the legs


def test_transl_and_global_orient(smplx_model):
    shifted = pose_smplx(smplx_model, rest_params(transl=torch.tensor([[1.0, 2.0, 3.0]])))
    rest = pose_smplx(smplx_model, rest_params())
    torch.testing.assert_close(shifted.vertices - rest.vertices, torch.tensor([1.0, 2.0, 3.0]).expand_as(rest.vertices))
    flipped = pose_smplx(smplx_model, rest_params(global_orient=torch.tensor([[math.pi, 0.0, 0.0]])))
    pelvis = rest.joints[0, 0]
    # 180 degrees about x through the pelvis: y and z mirror around it, x is kept.
    expected = (rest.vertices[0] - pelvis) * torch.tensor([1.0, -1.0, -1.0]) + pelvis
    torch.testing.assert_close(flipped.vertices[0], expected, atol=1e-5, rtol=0)


def test_hand_pca_equals_the_axis_angle_it_stands_for(smplx_model):
    pca = random_params(3, seed=1, pca=True)
    full = dataclasses.replace(
        pca,
        left_hand_pose=pca.left_hand_pose @ smplx_model.left_hand_components[:12],
        right_hand_pose=pca.right_hand_pose @ smplx_model.right_hand_components[:12],
        hand_pose_pca=False,
    )
    torch.testing.assert_close(pose_smplx(smplx_model, pca).vertices, pose_smplx(smplx_model, full).vertices)


def test_mean_hand_is_added_unless_flat(smplx_model):
    relaxed = smplx_full_pose(smplx_model, rest_params(flat_hand_mean=False))
    flat = smplx_full_pose(smplx_model, rest_params(flat_hand_mean=True))
    torch.testing.assert_close(relaxed[0, 25:40].reshape(-1), smplx_model.left_hand_mean)
    torch.testing.assert_close(relaxed[0, 40:55].reshape(-1), smplx_model.right_hand_mean)
    assert flat.abs().max() == 0


def test_chunked_posing_matches_one_pass(smplx_model):
    params = random_params(5, seed=2)
    torch.testing.assert_close(
        pose_smplx(smplx_model, params, chunk_frames=2).vertices, pose_smplx(smplx_model, params).vertices
    )


def test_parameter_shape_errors(smplx_model):
    with pytest.raises(InputError, match="body_pose"):
        rest_params(body_pose=torch.zeros(1, 69))
    with pytest.raises(InputError, match="frames"):
        rest_params(frames=2, transl=torch.zeros(3, 3))
    with pytest.raises(InputError, match="NaN"):
        rest_params(global_orient=torch.tensor([[float("nan"), 0.0, 0.0]]))
    with pytest.raises(InputError, match="PCA"):
        rest_params(left_hand_pose=torch.zeros(1, 46))
    with pytest.raises(InputError, match="11 betas"):
        pose_smplx(smplx_model, rest_params(betas=torch.zeros(1, 11)))  # a v1.0 model has 10


def test_from_mapping_broadcasts_betas_and_flattens_joints():
    params = SMPLXParams.from_mapping(
        {
            "global_orient": np.zeros((4, 3)),
            "body_pose": torch.zeros(4, 21, 3),
            "betas": torch.ones(10),
            "transl": torch.zeros(4, 3),
        }
    )
    assert params.num_frames == 4 and tuple(params.body_pose.shape) == (4, 63) and tuple(params.betas.shape) == (4, 10)
    with pytest.raises(InputError, match="transl"):
        SMPLXParams.from_mapping({"global_orient": np.zeros((4, 3)), "body_pose": np.zeros((4, 63)), "betas": 0})


@pytest.fixture(scope="module")
def smplx_cross_check_dir(tmp_path_factory, procedural):
    folder = tmp_path_factory.mktemp("smplx_cross_check")
    procedural.write_smplx(folder, procedural.build_smplx_arrays(pose_correctives=True, seed=3))
    return folder


def test_smplx_matches_the_smplx_package(smplx_cross_check_dir):
    smplx = pytest.importorskip("smplx")
    frames = 4
    params = random_params(frames, seed=4)
    ours = pose_smplx(load_smplx(smplx_cross_check_dir), params)
    reference = smplx.create(
        str(smplx_cross_check_dir),
        model_type="smplx",
        gender="neutral",
        ext="npz",
        use_pca=True,
        num_pca_comps=12,
        flat_hand_mean=False,
        num_betas=10,
        num_expression_coeffs=10,
        batch_size=frames,
    )
    with torch.no_grad():
        out = reference(**{name: getattr(params, name) for name in ("global_orient", "body_pose", "betas", "transl")},
                        left_hand_pose=params.left_hand_pose, right_hand_pose=params.right_hand_pose,
                        jaw_pose=params.jaw_pose, leye_pose=params.leye_pose, reye_pose=params.reye_pose,
                        expression=params.expression)  # fmt: skip
    torch.testing.assert_close(ours.vertices, out.vertices, atol=2e-5, rtol=0)
    torch.testing.assert_close(ours.joints, out.joints[:, :55], atol=2e-5, rtol=0)


def test_mano_matches_the_smplx_package(tmp_path, procedural):
    smplx = pytest.importorskip("smplx")
    path = tmp_path / "mano" / "MANO_RIGHT.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(procedural.build_mano_arrays(), protocol=2))  # chumpy-free, sparse regressor
    g = torch.Generator().manual_seed(5)
    orient, pose = torch.randn(3, 3, generator=g), torch.randn(3, 45, generator=g) * 0.4
    betas, transl = torch.randn(3, 10, generator=g), torch.randn(3, 3, generator=g)
    ours = pose_mano(load_mano(tmp_path), orient, pose, betas, transl)
    reference = smplx.create(str(tmp_path), model_type="mano", is_rhand=True, use_pca=False, batch_size=3)
    with torch.no_grad():
        out = reference(global_orient=orient, hand_pose=pose, betas=betas, transl=transl)
    torch.testing.assert_close(ours.vertices, out.vertices, atol=2e-5, rtol=0)
    torch.testing.assert_close(ours.joints, out.joints[:, :16], atol=2e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_posing_on_gpu_matches_cpu(smplx_model):
    params = random_params(3, seed=6)
    cpu = pose_smplx(smplx_model, params).vertices
    gpu = pose_smplx(smplx_model.to("cuda"), params).vertices
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
