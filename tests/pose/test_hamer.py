"""HaMeR import (three file layouts), registration onto the SMPL-X hands, and the rendered result."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from realisdance.errors import InputError
from realisdance.pose import (
    HandGeometry,
    RenderOptions,
    SMPLXSequence,
    axis_angle_to_matrix,
    estimate_intrinsics,
    pose_smplx,
    render_hands,
)
from realisdance.pose.hamer import (
    ManoCorrespondence,
    load_hamer,
    load_mano_correspondence,
    mano_hand_mesh,
    register_hamer_hands,
)
from realisdance.pose.hands import hand_vertex_ids

FRAMES, SIZE = 3, 96


def correspondence(model) -> ManoCorrespondence:
    """778 SMPL-X ids per hand (the procedural hands have fewer vertices, so ids repeat cyclically)."""
    ids = {}
    for side in ("left", "right"):
        own = hand_vertex_ids(model, side)
        ids[side] = own[torch.arange(778) % own.numel()]
    return ManoCorrespondence(ids["left"], ids["right"])


def sequence(facing_params) -> SMPLXSequence:
    params = facing_params(FRAMES, distance=3.0)
    return SMPLXSequence(params, estimate_intrinsics(SIZE, SIZE)[None].repeat(FRAMES, 1, 1), SIZE, SIZE)


def hamer_like(model, seq, pairs):
    """HaMeR-style hands: the SMPL-X hand vertices in another frame (rotated, scaled, shifted), left mirrored."""
    body = pose_smplx(model, seq.params).vertices
    rotation = axis_angle_to_matrix(torch.tensor([0.3, 2.0, -0.5]))
    frames = []
    for frame in range(FRAMES):
        left = 0.8 * body[frame, pairs.left] @ rotation.T + torch.tensor([0.1, 0.2, 5.0])
        left = left * torch.tensor([-1.0, 1.0, 1.0])  # as HaMeR predicts left hands: a mirrored right hand
        right = 1.3 * body[frame, pairs.right] @ rotation.T - torch.tensor([0.4, 0.0, -2.0])
        frames.append((left, right))
    return frames


def test_registered_hands_land_on_the_smplx_hands(smplx_model, facing_params, tmp_path):
    pairs = correspondence(smplx_model)
    seq = sequence(facing_params)
    hands = hamer_like(smplx_model, seq, pairs)
    dump = [{"all_verts": [h[0].numpy(), h[1].numpy()], "all_right": [0, 1]} for h in hands]
    dump[1] = None  # a frame without hands falls back to the SMPL-X hands
    path = tmp_path / "hamer_info.pkl"
    path.write_bytes(pickle.dumps(dump))
    detections = load_hamer(path)
    assert detections.num_frames == FRAMES and detections.vertices[1].shape == (0, 778, 3)
    registered = register_hamer_hands(smplx_model, seq, detections, pairs)
    body = pose_smplx(smplx_model, seq.params).vertices[:, torch.cat([pairs.left, pairs.right])]
    assert registered.shape == (FRAMES, 1556, 3)
    torch.testing.assert_close(registered, body, atol=1e-4, rtol=0)


def test_registered_hands_render_like_the_smplx_hands(smplx_model, facing_params):
    pairs = correspondence(smplx_model)
    seq = sequence(facing_params)
    mesh = mano_hand_mesh(smplx_model, pairs)
    assert mesh.faces.shape[0] > 100 and mesh.is_right.sum() == 778
    moved = pose_smplx(smplx_model, seq.params).vertices[:, mesh.vertex_ids] + torch.tensor([0.05, 0.0, 0.0])
    unoccluded = RenderOptions(occlude_hands=False)
    image = render_hands(smplx_model, seq, unoccluded, HandGeometry(mesh, moved))
    reference = render_hands(smplx_model, seq, unoccluded, HandGeometry(mesh))
    assert image.shape == reference.shape == (FRAMES, SIZE, SIZE, 3)
    assert (image.amax(-1) > 0).sum() > 20
    assert not torch.equal(image, reference)  # the given vertices, not the body's, were drawn
    with pytest.raises(InputError, match="Hand vertices have shape"):
        render_hands(smplx_model, seq, hands=HandGeometry(mesh, moved[:, :10]))


def test_simple_and_demo_formats(smplx_model, facing_params, tmp_path):
    pairs = correspondence(smplx_model)
    seq = sequence(facing_params)
    hands = hamer_like(smplx_model, seq, pairs)
    vertices = np.stack([np.stack([h[0].numpy(), h[1].numpy()]) for h in hands])
    np.savez(tmp_path / "hands.npz", vertices=vertices, is_right=np.array([[0, 1]] * FRAMES))
    simple = load_hamer(tmp_path / "hands.npz")
    torch.save([{"pred_vertices": torch.from_numpy(v), "is_right": torch.tensor([0.0, 1.0])} for v in vertices],
               tmp_path / "demo.pt")  # fmt: skip
    demo = load_hamer(tmp_path / "demo.pt")
    for detections in (simple, demo):
        assert detections.num_frames == FRAMES
        assert detections.is_right[0].tolist() == [False, True]
        torch.testing.assert_close(detections.vertices[2][1], hands[2][1])


def test_hamer_errors(smplx_model, facing_params, tmp_path):
    np.savez(tmp_path / "bad.npz", vertices=np.zeros((2, 1, 700, 3)), is_right=np.zeros((2, 1)))
    with pytest.raises(InputError, match="778 vertices"):
        load_hamer(tmp_path / "bad.npz")
    np.savez(tmp_path / "flags.npz", vertices=np.zeros((2, 1, 778, 3)), is_right=np.zeros((3, 1)))
    with pytest.raises(InputError, match="is_right"):
        load_hamer(tmp_path / "flags.npz")
    with pytest.raises(InputError, match="not found"):
        load_hamer(tmp_path / "missing.pkl")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"x": print}))
    with pytest.raises(InputError, match=r"holds builtins.print, which is not plain data, so it was not unpickled"):
        load_hamer(tmp_path / "evil.pkl")
    (tmp_path / "torn.pkl").write_bytes(pickle.dumps({"x": np.ones(3)})[:20])
    with pytest.raises(InputError, match="could not be read as a HaMeR file; it is truncated"):
        load_hamer(tmp_path / "torn.pkl")
    np.savez(tmp_path / "two.npz", vertices=np.ones((2, 1, 778, 3)), is_right=np.zeros((2, 1)))
    with pytest.raises(InputError, match="2 frames but the SMPL-X sequence 3"):
        register_hamer_hands(smplx_model, sequence(facing_params), load_hamer(tmp_path / "two.npz"),
                             correspondence(smplx_model))  # fmt: skip
    with pytest.raises(InputError, match="MANO_SMPLX_vertex_ids"):
        load_mano_correspondence(tmp_path)


def test_correspondence_file_is_read(tmp_path):
    (tmp_path / "smplx").mkdir()
    ids = {"left_hand": np.arange(778), "right_hand": np.arange(778, 1556)}
    (tmp_path / "smplx" / "MANO_SMPLX_vertex_ids.pkl").write_bytes(pickle.dumps(ids))
    loaded = load_mano_correspondence(tmp_path)
    assert loaded.left.tolist() == list(range(778)) and int(loaded.right[-1]) == 1555
