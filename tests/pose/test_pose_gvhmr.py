"""Importing GVHMR results (hmr4d_results.pt / pred.pt) as SMPL-X sequences."""

from __future__ import annotations

import math
from pathlib import PurePosixPath

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import estimate_intrinsics, gvhmr_sequence, load_gvhmr, render_pose_conditions

FRAMES, WIDTH, HEIGHT = 6, 1280, 720


def fake_pred(frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT) -> dict:
    """What GVHMR's demo saves: global and in-camera params, per-frame K and the network's raw outputs."""
    g = torch.Generator().manual_seed(0)

    def params() -> dict:
        return {
            "global_orient": torch.randn(frames, 3, generator=g),
            "body_pose": torch.randn(frames, 63, generator=g) * 0.2,
            "betas": torch.randn(frames, 10, generator=g),
            "transl": torch.randn(frames, 3, generator=g) + torch.tensor([0.0, 0.0, 4.0]),
        }

    return {
        "smpl_params_global": params(),
        "smpl_params_incam": params(),
        "K_fullimg": estimate_intrinsics(width, height)[None].repeat(frames, 1, 1),
        "net_outputs": {"pred_cam": torch.randn(1, frames, 3, generator=g), "static_conf_logits": torch.zeros(1, 2)},
    }


def test_load_gvhmr_file(tmp_path):
    pred = fake_pred()
    path = tmp_path / "hmr4d_results.pt"
    torch.save(pred, path)
    sequence = load_gvhmr(path, fps=30.0)
    assert (sequence.width, sequence.height, sequence.num_frames, sequence.fps) == (WIDTH, HEIGHT, FRAMES, 30.0)
    torch.testing.assert_close(sequence.params.body_pose, pred["smpl_params_incam"]["body_pose"])
    torch.testing.assert_close(sequence.params.transl, pred["smpl_params_incam"]["transl"])
    torch.testing.assert_close(sequence.intrinsics, pred["K_fullimg"])
    # GVHMR poses SMPL-X with 12 hand PCA components, flat_hand_mean=False, hands at zero: the relaxed mean hand.
    assert sequence.params.hand_pose_pca and not sequence.params.flat_hand_mean
    assert sequence.params.left_hand_pose is None and sequence.source == str(path)


def test_global_params_can_be_chosen_and_fps_may_be_unknown():
    pred = fake_pred()
    sequence = gvhmr_sequence(pred, params_key="smpl_params_global")
    torch.testing.assert_close(sequence.params.global_orient, pred["smpl_params_global"]["global_orient"])
    assert sequence.fps is None


def test_video_resized_after_gvhmr_scales_k():
    sequence = gvhmr_sequence(fake_pred(), image_size=(640, 360))
    assert (sequence.width, sequence.height) == (640, 360)
    torch.testing.assert_close(sequence.intrinsics[0], estimate_intrinsics(WIDTH, HEIGHT) * torch.tensor(
        [[0.5], [0.5], [1.0]]))  # fmt: skip


def test_video_of_another_aspect_ratio_is_refused_unless_told():
    with pytest.raises(InputError, match="1280x720"):
        gvhmr_sequence(fake_pred(), image_size=(720, 720))
    sequence = gvhmr_sequence(fake_pred(), image_size=(720, 720), match_intrinsics=False)
    torch.testing.assert_close(sequence.intrinsics[0], estimate_intrinsics(WIDTH, HEIGHT))


def test_single_k_and_single_betas_are_broadcast():
    pred = fake_pred()
    pred["K_fullimg"] = pred["K_fullimg"][0]
    pred["smpl_params_incam"]["betas"] = pred["smpl_params_incam"]["betas"][:1]
    sequence = gvhmr_sequence(pred)
    assert sequence.intrinsics.shape == (FRAMES, 3, 3) and sequence.params.betas.shape == (FRAMES, 10)


def test_bad_results_are_input_errors(tmp_path):
    pred = fake_pred()
    pred["smpl_params_incam"]["body_pose"] = torch.zeros(FRAMES, 69)  # SMPL (23 joints), not SMPL-X
    with pytest.raises(InputError, match="body_pose"):
        gvhmr_sequence(pred)
    pred = fake_pred()
    pred["K_fullimg"] = pred["K_fullimg"][:2]
    with pytest.raises(InputError, match="intrinsics"):
        gvhmr_sequence(pred)
    with pytest.raises(InputError, match="K_fullimg"):
        gvhmr_sequence({"smpl_params_incam": {}})
    with pytest.raises(InputError, match="not found"):
        load_gvhmr(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="could not be read as a GVHMR result file; it is truncated"):
        load_gvhmr(garbage)
    with pytest.raises(InputError, match="could not be read as a GVHMR result file; it is truncated"):
        load_gvhmr(garbage, trust_pickle=True)


def test_files_with_objects_need_trust(tmp_path):
    pred = fake_pred()
    pred["net_outputs"]["video"] = PurePosixPath("/videos/dance.mp4")  # not a tensor: refused by weights_only
    path = tmp_path / "hmr4d_results.pt"
    torch.save(pred, path)
    with pytest.raises(
        InputError, match="holds pathlib.PurePosixPath, which is not plain data, so it was not unpickled"
    ):
        load_gvhmr(path)
    assert load_gvhmr(path, trust_pickle=True).num_frames == FRAMES  # the Python API's opt-in for your own files


def test_gvhmr_sequence_renders_at_the_video_size(smplx_model):
    pred = fake_pred(frames=2, width=160, height=90)
    incam = pred["smpl_params_incam"]
    incam["global_orient"] = torch.tensor([[math.pi, 0.0, 0.0]]).repeat(2, 1)
    incam["transl"] = torch.tensor([[0.0, 0.0, 3.0]]).repeat(2, 1)
    sequence = gvhmr_sequence(pred, fps=25.0)
    videos = render_pose_conditions(smplx_model, sequence, torch.full((10475, 3), 0.8))
    assert videos.smpl_cs.shape == videos.hands.shape == (2, 90, 160, 3)
    assert videos.smpl_cs.amax() > 0 and videos.hands.amax() > 0
