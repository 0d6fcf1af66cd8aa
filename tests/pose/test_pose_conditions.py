"""SMPL-CS and hand condition videos rendered from the procedural SMPL-X body, and the colour table."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from realisdance.errors import CheckpointError, InputError
from realisdance.pose import (
    RenderOptions,
    SMPLXSequence,
    estimate_intrinsics,
    hand_vertex_ids,
    load_vertex_colours,
    pose_smplx,
    project_points,
    render_hands,
    render_pose_conditions,
    render_smpl_cs,
    smplx_hand_mesh,
)

WIDTH, HEIGHT = 192, 256
LEFT_SHOULDER = 16


def sequence(params, width: int = WIDTH, height: int = HEIGHT) -> SMPLXSequence:
    k = estimate_intrinsics(width, height)[None].repeat(params.num_frames, 1, 1)
    return SMPLXSequence(params, k, width, height, fps=24.0)


def grey(model, value: float = 0.5) -> torch.Tensor:
    return torch.full((model.num_vertices, 3), value)


def test_smpl_cs_shading_range_background_and_frontal_value(smplx_model, facing_params):
    params = facing_params(1)
    frames = render_smpl_cs(smplx_model, sequence(params), grey(smplx_model))
    assert frames.shape == (1, HEIGHT, WIDTH, 3) and frames.dtype == torch.float32
    image = frames[0]
    covered = image.amax(-1) > 0
    assert 0.05 < covered.float().mean() < 0.6
    values = image[covered]
    assert (values[:, 0] == values[:, 1]).all() and (values[:, 1] == values[:, 2]).all()  # grey stays grey
    # 0.5 * (0.4 + 0.3 * max(0, n.l)) + 0.2 lies in [0.4, 0.55]
    assert values.min() >= 0.4 - 1e-6 and values.max() <= 0.55 + 1e-6
    # Halfway up the lower torso tube (away from its caps' bent normals) the front faces the camera: n.l ~ 1.
    joints = pose_smplx(smplx_model, params).joints[0]
    x, y, _ = project_points((joints[3] + joints[6])[None] / 2, estimate_intrinsics(WIDTH, HEIGHT))[0]
    assert image[int(y), int(x), 0].item() == pytest.approx(0.55, abs=0.01)


def test_smpl_cs_with_the_real_colour_table(smplx_model, facing_params, colour_table_path):
    colours = load_vertex_colours(colour_table_path)
    image = render_smpl_cs(smplx_model, sequence(facing_params(1)), colours)[0]
    covered = image.amax(-1) > 0
    assert image.max() <= 0.9 + 1e-6  # the brightest possible: colour 1 * (0.4 + 0.3) + 0.2
    assert len(torch.unique((image[covered] * 255).round(), dim=0)) > 20


def test_hands_are_pink_right_and_green_left(smplx_model, facing_params):
    image = render_hands(smplx_model, sequence(facing_params(1)))[0]
    red = (image[..., 0] > image[..., 1] + 0.1).nonzero()
    green = (image[..., 1] > image[..., 0] + 0.1).nonzero()
    assert len(red) > 10 and len(green) > 10
    # The body faces the camera, so its right hand is on the image's left.
    assert red[:, 1].max() < WIDTH / 2 < green[:, 1].min()
    lit = image[image.amax(-1) > 0]
    assert lit.min() >= 0.5 * 0.3 + 0.2 - 1e-6  # darkest hand channel: 0.5 * ambient + specular
    assert lit.max() == 1.0  # 1 * (0.3 + 0.75) + 0.2 clamps


def test_hand_behind_the_body_is_hidden(smplx_model, facing_params):
    body_pose = torch.zeros(1, 63)
    # 105 degrees about the vertical: the left arm swings back and inwards, the whole hand behind the torso.
    body_pose[0, (LEFT_SHOULDER - 1) * 3 + 1] = 7 * math.pi / 12
    seq = sequence(facing_params(1, body_pose=body_pose))
    occluded = render_hands(smplx_model, seq)[0]
    unoccluded = render_hands(smplx_model, seq, RenderOptions(occlude_hands=False))[0]

    def greens(image):
        return int((image[..., 1] > image[..., 0] + 0.1).sum())

    def reds(image):
        return int((image[..., 0] > image[..., 1] + 0.1).sum())

    assert greens(unoccluded) > 5 and greens(occluded) == 0
    # The right hand stays out in the open; only a sliver at the wrist hides behind its own forearm's end.
    assert reds(unoccluded) > 5 and reds(occluded) >= 0.9 * reds(unoccluded)


def test_frames_without_visible_hands_are_black(smplx_model, facing_params):
    close_up = facing_params(1, distance=0.8)  # the frame only holds the chest; the hands are outside it
    videos = render_pose_conditions(smplx_model, sequence(close_up), grey(smplx_model))
    assert videos.hands.abs().max() == 0
    assert videos.smpl_cs.abs().max() > 0


def test_combined_render_equals_separate_ones_and_reports_progress(smplx_model, facing_params):
    body_pose = torch.zeros(3, 63)
    body_pose[:, (LEFT_SHOULDER - 1) * 3 + 2] = torch.tensor([0.0, 0.5, 1.0])
    seq = sequence(facing_params(3, body_pose=body_pose), width=96, height=128)
    calls = []
    videos = render_pose_conditions(smplx_model, seq, grey(smplx_model), progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    torch.testing.assert_close(videos.smpl_cs, render_smpl_cs(smplx_model, seq, grey(smplx_model)))
    torch.testing.assert_close(videos.hands, render_hands(smplx_model, seq))
    assert not torch.equal(videos.smpl_cs[0], videos.smpl_cs[2])  # the arm moved


def test_colour_table_errors(smplx_model, facing_params):
    seq = sequence(facing_params(1), width=32, height=32)
    with pytest.raises(InputError, match="10475"):
        render_smpl_cs(smplx_model, seq, torch.zeros(100, 3))
    with pytest.raises(InputError, match="colour table"):
        render_pose_conditions(smplx_model, seq, None)


def test_hand_vertices_come_from_the_skinning_weights(smplx_model):
    left, right = hand_vertex_ids(smplx_model, "left"), hand_vertex_ids(smplx_model, "right")
    owner = smplx_model.weights.argmax(-1)
    assert torch.isin(owner[left], torch.tensor([20, *range(25, 40)])).all()
    assert torch.isin(owner[right], torch.tensor([21, *range(40, 55)])).all()
    hands = smplx_hand_mesh(smplx_model)
    assert len(hands.faces) > 0 and hands.faces.max() < len(hands.vertex_ids)
    assert int(hands.is_right.sum()) == len(right)
    torch.testing.assert_close(hands.colours[~hands.is_right][0], torch.tensor([0.5, 1.0, 0.5]))
    torch.testing.assert_close(hands.colours[hands.is_right][0], torch.tensor([1.0, 0.5, 0.5]))
    with pytest.raises(InputError):
        hand_vertex_ids(smplx_model, "middle")


def test_load_the_shared_colour_table(colour_table_path, tmp_path):
    colours = load_vertex_colours(colour_table_path)
    assert colours.shape == (10475, 3) and colours.dtype == torch.float32
    assert colours.min() >= 0 and colours.max() <= 1
    assert len(torch.unique(colours, dim=0)) == 249  # the jet-like palette of the reference table
    # A body-model folder works too: <folder>/smplx/smplx_color.pt (a link here, the file is not copied).
    (tmp_path / "smplx").mkdir()
    os.symlink(colour_table_path, tmp_path / "smplx" / "smplx_color.pt")
    torch.testing.assert_close(load_vertex_colours(tmp_path), colours)


def test_colour_table_file_errors(tmp_path):
    with pytest.raises(CheckpointError, match="Uni3C"):
        load_vertex_colours(tmp_path)
    wrong = tmp_path / "wrong.pt"
    torch.save(np.zeros((100, 3), np.uint8), wrong)
    with pytest.raises(CheckpointError, match="100 vertices"):
        load_vertex_colours(wrong)
    as_tensor = tmp_path / "tensor.pt"
    torch.save(torch.full((10475, 3), 255, dtype=torch.uint8), as_tensor)
    assert load_vertex_colours(as_tensor).min() == 1.0
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="could not be read"):
        load_vertex_colours(garbage)
