"""Stand-ins for the licensed or downloaded pose assets, shared by every test that needs them.

* Procedural SMPL-X and MANO model files with the real keys, shapes and kinematic trees (no licensed data). The
  body is a set of closed tubes, one per bone, skinned 100 % to the bone's parent joint, so the skinning is easy
  to reason about; the real vertex/face/joint counts are met by padding with unused vertices and degenerate faces.
  J_regressor rows average the ring of vertices centred on each joint, so rest joints are exact. Shape direction 0
  scales the body about the pelvis (height), 1 inflates every tube (girth), 2 lengthens the legs; the rest are
  small random part offsets. Hand PCA components are a random orthonormal basis and the hand means small random
  poses, so PCA and flat_hand_mean are exercised.
* A complete body-model folder (SMPL-X, a one-colour SMPL-CS table in the real format, MANO, the MANO -> SMPL-X
  vertex correspondence), a GVHMR result file and a HaMeR dump (:func:`write_body_folder`, :func:`write_gvhmr`,
  :func:`write_hamer`).
* Small ONNX graphs with the real DWPose input/output names and shapes (no weights needed):
  - ``constant_detector``: YOLOX-shaped ('images' (1, 3, 640, 640) -> 'output' (1, 8400, 85)); chosen anchors carry
    chosen raw rows, every other anchor scores 0.
  - ``blob_detector``: a YOLOX-shaped graph that "detects" the bright rectangle of the letterboxed image: anchor 0
    gets the raw row of the box spanning the pixels brighter than 127 (score = objectness 1 x class 0.9, or 0 when
    nothing is bright).
  - ``planted_pose_model``: DW-LL-shaped ('input' (1, 3, 384, 288) -> 'simcc_x' (1, 133, 576), 'simcc_y'
    (1, 133, 768)) with one constant peak per keypoint.
  - ``blob_pose_model``: DW-LL-shaped with a dynamic batch; keypoints 0-66 peak at the first crop column/row whose
    pixel is bright, 67-132 at the last one, so decoding gives the rectangle's corners in crop pixels.
  Every graph depends on its input (at least through 0 x sum(input)), so onnxruntime cannot fold it away.
"""

from __future__ import annotations

import math
import pickle
import shutil
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

try:  # only the DWPose stand-ins need onnx (a test requirement); the body-model builders work without it
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - the DWPose tests skip via pytest.importorskip("onnx")
    onnx = TensorProto = helper = numpy_helper = None

# ---- procedural SMPL-X and MANO ----

SMPLX_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15]
for _wrist in (20, 21):  # five 3-joint chains per hand: index, middle, pinky, ring, thumb
    _base = len(SMPLX_PARENTS)
    for _finger in range(5):
        first = _base + 3 * _finger
        SMPLX_PARENTS += [_wrist, first, first + 1]
MANO_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
SMPLX_V, SMPLX_F, SMPLX_J = 10475, 20908, 55
MANO_V, MANO_F, MANO_J = 778, 1538, 16

# Rest skeleton in the SMPL-X frame (metres; y up, x towards the body's left, z forward).
_BODY_JOINTS = [
    (0.0, 0.0, 0.0),  # 0 pelvis
    (0.09, -0.08, 0.0),  # 1 left hip
    (-0.09, -0.08, 0.0),  # 2 right hip
    (0.0, 0.11, 0.0),  # 3 spine1
    (0.10, -0.45, 0.0),  # 4 left knee
    (-0.10, -0.45, 0.0),  # 5 right knee
    (0.0, 0.24, 0.0),  # 6 spine2
    (0.10, -0.85, -0.02),  # 7 left ankle
    (-0.10, -0.85, -0.02),  # 8 right ankle
    (0.0, 0.30, 0.0),  # 9 spine3
    (0.11, -0.90, 0.10),  # 10 left foot
    (-0.11, -0.90, 0.10),  # 11 right foot
    (0.0, 0.50, 0.0),  # 12 neck
    (0.07, 0.42, 0.0),  # 13 left collar
    (-0.07, 0.42, 0.0),  # 14 right collar
    (0.0, 0.58, 0.02),  # 15 head
    (0.17, 0.44, 0.0),  # 16 left shoulder
    (-0.17, 0.44, 0.0),  # 17 right shoulder
    (0.43, 0.44, 0.0),  # 18 left elbow
    (-0.43, 0.44, 0.0),  # 19 right elbow
    (0.68, 0.44, 0.0),  # 20 left wrist
    (-0.68, 0.44, 0.0),  # 21 right wrist
    (0.0, 0.55, 0.05),  # 22 jaw
    (0.03, 0.66, 0.08),  # 23 left eye
    (-0.03, 0.66, 0.08),  # 24 right eye
]
_FINGER_BASES = [(0.09, 0.0, 0.03), (0.09, 0.0, 0.01), (0.08, 0.0, -0.03), (0.09, 0.0, -0.01), (0.03, -0.01, 0.04)]
_FINGER_STEPS = [(0.03, 0, 0), (0.03, 0, 0), (0.025, 0, 0), (0.03, 0, 0), (0.02, -0.005, 0.02)]


def hand_joints(wrist: np.ndarray, side: float) -> list[np.ndarray]:
    """15 finger joints (index, middle, pinky, ring, thumb x 3) for a wrist; side +1 left, -1 right."""
    mirror = np.array([side, 1.0, 1.0])
    joints = []
    for base, step in zip(_FINGER_BASES, _FINGER_STEPS, strict=True):
        start = wrist + mirror * np.array(base)
        joints += [start + k * mirror * np.array(step) for k in range(3)]
    return joints


def smplx_rest_joints() -> np.ndarray:
    joints = [np.array(j) for j in _BODY_JOINTS]
    joints += hand_joints(joints[20], 1.0) + hand_joints(joints[21], -1.0)
    return np.stack(joints).astype(np.float64)


@dataclass
class TubeMesh:
    """Accumulates closed tubes; every vertex remembers its joint, tube axis and radial direction."""

    vertices: list = field(default_factory=list)
    faces: list = field(default_factory=list)
    joint: list = field(default_factory=list)
    radial: list = field(default_factory=list)
    end_rings: dict = field(default_factory=dict)  # joint -> vertex ids of a ring centred on it

    def add_tube(self, p0, p1, r0, r1, joint, segments, sections, ring_at_start=None, ring_at_end=None):
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        axis = p1 - p0
        direction = axis / np.linalg.norm(axis)
        helper = np.array([0.0, 1.0, 0.0]) if abs(direction[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(helper, direction)
        u /= np.linalg.norm(u)
        v = np.cross(direction, u)  # (u, v, direction) is right-handed: quads wind counter-clockwise outside
        first = len(self.vertices)
        for k in range(sections + 1):
            t = k / sections
            centre, radius = p0 + t * axis, (1 - t) * r0 + t * r1
            for i in range(segments):
                phi = 2 * math.pi * i / segments
                out = math.cos(phi) * u + math.sin(phi) * v
                self.vertices.append(centre + radius * out)
                self.radial.append(out)
                self.joint.append(joint)
        for k in range(sections):
            for i in range(segments):
                a = first + k * segments + i
                b = first + k * segments + (i + 1) % segments
                c, d = b + segments, a + segments
                self.faces += [(a, b, c), (a, c, d)]
        start_centre, end_centre = len(self.vertices), len(self.vertices) + 1
        for centre in (p0, p1):
            self.vertices.append(centre)
            self.radial.append(np.zeros(3))
            self.joint.append(joint)
        last = first + sections * segments
        for i in range(segments):
            j = (i + 1) % segments
            self.faces.append((start_centre, first + j, first + i))
            self.faces.append((end_centre, last + i, last + j))
        if ring_at_start is not None:
            self.end_rings[ring_at_start] = list(range(first, first + segments))
        if ring_at_end is not None:
            self.end_rings[ring_at_end] = list(range(last, last + segments))


def _body_tubes(mesh: TubeMesh, joints: np.ndarray) -> None:
    torso = {3: (0.2, 0.2), 6: (0.2, 0.2), 9: (0.2, 0.17), 12: (0.17, 0.07)}
    limb_radius = {
        1: (0.08, 0.08), 2: (0.08, 0.08), 4: (0.08, 0.06), 5: (0.08, 0.06), 7: (0.06, 0.045), 8: (0.06, 0.045),
        10: (0.045, 0.035), 11: (0.045, 0.035), 13: (0.06, 0.06), 14: (0.06, 0.06), 15: (0.05, 0.05),
        16: (0.06, 0.05), 17: (0.06, 0.05), 18: (0.05, 0.04), 19: (0.05, 0.04), 20: (0.04, 0.03), 21: (0.04, 0.03),
    }  # fmt: skip
    for child in range(1, SMPLX_J):
        parent = SMPLX_PARENTS[child]
        p0, p1 = joints[parent], joints[child]
        start_ring = 0 if child == 3 else None  # the pelvis ring starts the pelvis -> spine1 tube
        if child in torso:
            mesh.add_tube(p0, p1, *torso[child], parent, 32, 4, start_ring, child)
        elif child in limb_radius:
            mesh.add_tube(p0, p1, *limb_radius[child], parent, 16, 6, start_ring, child)
        elif child in (22, 23, 24):
            mesh.add_tube(p0, p1, 0.01, 0.01, parent, 8, 2, None, child)
        else:  # palm and finger segments
            mesh.add_tube(p0, p1, 0.012 if parent in (20, 21) else 0.009, 0.009, parent, 8, 3, None, child)
    # Leaf extensions, skinned to the leaf joint itself: head, toes, finger tips.
    head = joints[15]
    mesh.add_tube(head, head + np.array([0.0, 0.2, 0.0]), 0.09, 0.08, 15, 32, 4)
    for foot in (10, 11):
        mesh.add_tube(joints[foot], joints[foot] + np.array([0.0, 0.0, 0.06]), 0.035, 0.03, foot, 16, 6)
    for tip in [27, 30, 33, 36, 39, 42, 45, 48, 51, 54]:
        step = joints[tip] - joints[tip - 1]
        mesh.add_tube(joints[tip], joints[tip] + 0.7 * step, 0.009, 0.007, tip, 8, 3)


def build_smplx_arrays(shape_columns: int = 20, pose_correctives: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays of a procedural SMPLX_NEUTRAL file (v1.0 layout with 20 shape columns, v1.1 with 400)."""
    rng = np.random.default_rng(seed)
    joints = smplx_rest_joints()
    mesh = TubeMesh()
    _body_tubes(mesh, joints)
    used_v, used_f = len(mesh.vertices), len(mesh.faces)
    assert used_v < SMPLX_V and used_f < SMPLX_F, (used_v, used_f)

    vertices = np.zeros((SMPLX_V, 3))
    vertices[:used_v] = mesh.vertices  # padding vertices sit at the pelvis, skinned to it, in no face
    joint_of = np.zeros(SMPLX_V, dtype=np.int64)
    joint_of[:used_v] = mesh.joint
    radial = np.zeros((SMPLX_V, 3))
    radial[:used_v] = mesh.radial
    faces = np.zeros((SMPLX_F, 3), dtype=np.int64)
    faces[:used_f] = mesh.faces
    faces[used_f:] = used_v  # degenerate padding faces on one padding vertex

    weights = np.zeros((SMPLX_V, SMPLX_J))
    weights[np.arange(SMPLX_V), joint_of] = 1.0
    regressor = np.zeros((SMPLX_J, SMPLX_V))
    for j in range(SMPLX_J):
        ring = mesh.end_rings[j]
        regressor[j, ring] = 1.0 / len(ring)

    shapedirs = np.zeros((SMPLX_V, 3, shape_columns))
    shapedirs[:, :, 0] = 0.1 * (vertices - joints[0])  # height: scale about the pelvis
    shapedirs[:, :, 1] = 0.02 * radial  # girth
    hip_y = joints[1, 1]
    shapedirs[:, 1, 2] = 0.1 * np.minimum(vertices[:, 1] - hip_y, 0.0)  # leg length
    part_offsets = rng.normal(scale=0.01, size=(7, SMPLX_J, 3))
    for k in range(7):
        shapedirs[:, :, 3 + k] = part_offsets[k][joint_of]
    expression_start = 10 if shape_columns < 400 else 300
    head = np.isin(joint_of, [15, 22, 23, 24])
    for k in range(min(10, shape_columns - expression_start)):
        shapedirs[head, :, expression_start + k] = rng.normal(scale=0.005, size=(int(head.sum()), 3))

    posedirs = np.zeros((SMPLX_V, 3, (SMPLX_J - 1) * 9), dtype=np.float32)
    if pose_correctives:
        arms = np.isin(joint_of, [16, 17, 18, 19])
        posedirs[arms] = rng.normal(scale=2e-3, size=(int(arms.sum()), 3, posedirs.shape[-1]))

    def orthonormal() -> np.ndarray:
        q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
        return q

    kintree = np.stack([np.array(SMPLX_PARENTS, dtype=np.int64), np.arange(SMPLX_J)])
    kintree[0, 0] = 2**32 - 1  # how the real files store the root's parent
    return {
        "v_template": vertices.astype(np.float32),
        "f": faces.astype(np.uint32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs,
        "J_regressor": regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "hands_componentsl": orthonormal().astype(np.float32),
        "hands_componentsr": orthonormal().astype(np.float32),
        "hands_meanl": rng.normal(scale=0.15, size=45).astype(np.float32),
        "hands_meanr": rng.normal(scale=0.15, size=45).astype(np.float32),
        "lmk_faces_idx": rng.integers(0, used_f, size=51).astype(np.int64),
        "lmk_bary_coords": np.full((51, 3), 1.0 / 3.0, dtype=np.float32),
        "dynamic_lmk_faces_idx": rng.integers(0, used_f, size=(79, 17)).astype(np.int64),
        "dynamic_lmk_bary_coords": np.full((79, 17, 3), 1.0 / 3.0, dtype=np.float32),
        "joint2num": np.array({"pelvis": 0}, dtype=object),  # real files carry object metadata like this
    }


def write_smplx(folder: Path, arrays: dict[str, np.ndarray], suffix: str = ".npz") -> Path:
    """Write ``arrays`` as ``folder/smplx/SMPLX_NEUTRAL<suffix>`` (npz or pkl) and return the path."""
    path = folder / "smplx" / f"SMPLX_NEUTRAL{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        np.savez_compressed(path, **arrays)
    else:
        path.write_bytes(pickle.dumps(dict(arrays), protocol=2))
    return path


def build_mano_arrays(seed: int = 1) -> dict[str, object]:
    """Arrays of a procedural MANO_RIGHT file; J_regressor is a scipy sparse matrix like the real one."""
    import scipy.sparse

    rng = np.random.default_rng(seed)
    wrist = np.zeros(3)
    joints = np.stack([wrist, *hand_joints(wrist, -1.0)])
    mesh = TubeMesh()
    for child in range(1, MANO_J):
        parent = MANO_PARENTS[child]
        mesh.add_tube(joints[parent], joints[child], 0.01, 0.009, parent, 8, 3, 0 if child == 1 else None, child)
    for tip in (3, 6, 9, 12, 15):
        mesh.add_tube(joints[tip], joints[tip] + 0.7 * (joints[tip] - joints[tip - 1]), 0.009, 0.007, tip, 8, 3)
    used_v, used_f = len(mesh.vertices), len(mesh.faces)
    vertices = np.zeros((MANO_V, 3))
    vertices[:used_v] = mesh.vertices
    joint_of = np.zeros(MANO_V, dtype=np.int64)
    joint_of[:used_v] = mesh.joint
    faces = np.full((MANO_F, 3), used_v, dtype=np.int64)
    faces[:used_f] = mesh.faces
    weights = np.zeros((MANO_V, MANO_J))
    weights[np.arange(MANO_V), joint_of] = 1.0
    regressor = np.zeros((MANO_J, MANO_V))
    for j in range(MANO_J):
        regressor[j, mesh.end_rings[j]] = 1.0 / len(mesh.end_rings[j])
    shapedirs = rng.normal(scale=0.002, size=(MANO_V, 3, 10))
    shapedirs[:, :, 0] = 0.1 * vertices
    kintree = np.stack([np.array(MANO_PARENTS, dtype=np.int64), np.arange(MANO_J)])
    kintree[0, 0] = 2**32 - 1
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return {
        "v_template": vertices,
        "f": faces.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": rng.normal(scale=1e-3, size=(MANO_V, 3, (MANO_J - 1) * 9)),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": weights,
        "kintree_table": kintree,
        "hands_components": q,
        "hands_mean": rng.normal(scale=0.15, size=45),
        "hands_coeffs": rng.normal(size=(10, 45)),
        "J": joints,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def chumpy_pickle(arrays: dict[str, object]) -> bytes:
    """Pickle like the official MANO files: arrays wrapped in ``chumpy.ch.Ch`` objects (a fake class here)."""
    module = types.ModuleType("chumpy.ch")
    package = types.ModuleType("chumpy")

    class Ch:  # mimics chumpy: state is __dict__ with the array under 'x' plus bookkeeping
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch, package.ch = Ch, module
    wrapped = {
        key: Ch(value) if key in ("v_template", "shapedirs", "J", "weights", "posedirs") else value
        for key, value in arrays.items()
    }
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = package, module
    try:
        return pickle.dumps(wrapped, protocol=2)
    finally:  # loading must work without any chumpy module around
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


# ---- a body-model folder, a GVHMR result, a HaMeR dump ----

RED = (1.0, 0.0, 0.0)  # the test colour table: SMPL-CS pixels are then R-only plus the shading's flat 0.2
LEFT_HAND_JOINTS = (20, *range(25, 40))  # the wrist and its 15 finger joints
RIGHT_HAND_JOINTS = (21, *range(40, 55))
CORRESPONDENCE_FILE = "MANO_SMPLX_vertex_ids.pkl"


def hand_correspondence(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A MANO -> SMPL-X vertex table for the procedural body: 778 ids per hand among the vertices skinned to that
    hand (the procedural hands have fewer than 778 vertices, so ids repeat cyclically)."""
    joint_of = arrays["weights"].argmax(1)
    table = {}
    for side, joints in (("left_hand", LEFT_HAND_JOINTS), ("right_hand", RIGHT_HAND_JOINTS)):
        own = np.flatnonzero(np.isin(joint_of, joints))
        table[side] = own[np.arange(MANO_V) % own.size].astype(np.int64)
    return table


def write_colour_table(path: Path, rgb=RED) -> Path:
    """smplx_color.pt in the real format: a pickled numpy uint8 (10475, 3) array, every vertex one colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(np.tile((np.array(rgb) * 255).astype(np.uint8), (SMPLX_V, 1)), path)
    return path


def write_body_folder(folder: Path, mano: bool = True, correspondence: bool = True) -> Path:
    """A body-model folder laid out like the smplx package: smplx/SMPLX_NEUTRAL.npz, smplx/smplx_color.pt,
    smplx/MANO_SMPLX_vertex_ids.pkl, mano/MANO_RIGHT.pkl and MANO_LEFT.pkl (pickled with fake chumpy objects)."""
    arrays = build_smplx_arrays()
    write_smplx(folder, arrays)
    write_colour_table(folder / "smplx" / "smplx_color.pt")
    if correspondence:
        (folder / "smplx" / CORRESPONDENCE_FILE).write_bytes(pickle.dumps(hand_correspondence(arrays), protocol=2))
    if mano:
        (folder / "mano").mkdir(exist_ok=True)
        hand = chumpy_pickle(build_mano_arrays())
        (folder / "mano" / "MANO_RIGHT.pkl").write_bytes(hand)
        (folder / "mano" / "MANO_LEFT.pkl").write_bytes(hand)
    return folder


def install_body_folder(models_dir: Path, source: Path, name: str = "body_models", skip: tuple[str, ...] = ()) -> Path:
    """Copy a :func:`write_body_folder` folder to models_dir/realisdance/<name>, leaving out ``skip`` patterns."""
    target = models_dir / "realisdance" / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*skip))
    return target


def gvhmr_params(frames: int, distance: float = 3.0) -> dict[str, torch.Tensor]:
    """GVHMR-style in-camera parameters: upright, facing the camera ``distance`` away, the left arm rising."""
    body_pose = torch.zeros(frames, 21, 3)
    body_pose[:, 15, 2] = torch.linspace(0.0, -0.6, frames)  # left shoulder
    return {
        "global_orient": torch.tensor([[math.pi, 0.0, 0.0]]).repeat(frames, 1),
        "body_pose": body_pose.reshape(frames, 63),
        "betas": torch.zeros(frames, 10),
        "transl": torch.tensor([[0.0, -0.1, distance]]).repeat(frames, 1),
    }


def write_gvhmr(path: Path, frames: int, width: int, height: int) -> dict:
    """A GVHMR demo result (hmr4d_results.pt) of :func:`gvhmr_params` with GVHMR's default camera."""
    from realisdance.pose import estimate_intrinsics

    params = gvhmr_params(frames)
    pred = {
        "smpl_params_incam": params,
        "smpl_params_global": {**params, "transl": torch.zeros(frames, 3)},
        "K_fullimg": estimate_intrinsics(width, height)[None].repeat(frames, 1, 1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(pred, path)
    return pred


def write_hamer(path: Path, hands: list[tuple[np.ndarray | None, np.ndarray | None]]) -> Path:
    """A RealisDance/Uni3C ``hamer_info.pkl``: per frame (left, right) MANO vertices (778, 3), None = not found."""
    dump = []
    for left, right in hands:
        found = [(v, flag) for v, flag in ((left, 0), (right, 1)) if v is not None]
        dump.append({"all_verts": [v for v, _ in found], "all_right": [f for _, f in found]} if found else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(dump, protocol=2))
    return path


# ---- DWPose ONNX stand-ins ----

OPSET = 13
IR_VERSION = 8
ANCHORS = 80 * 80 + 40 * 40 + 20 * 20
KEYPOINTS = 133


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def _save(nodes, inputs, outputs, path: Path) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _zero_times_sum(input_name: str) -> list[onnx.NodeProto]:
    """Nodes making the scalar 'input_dependency' = 0 * sum(input)."""
    return [
        helper.make_node("ReduceSum", [input_name], ["input_sum"], keepdims=0),
        _const("zero", np.float32(0.0)),
        helper.make_node("Mul", ["input_sum", "zero"], ["input_dependency"]),
    ]


def yolox_raw_row(box_xyxy, anchor: int, person: float = 0.9, objectness: float = 1.0, other_class=None):
    """The raw YOLOX output row that decodes to ``box_xyxy`` (letterbox pixels) at ``anchor`` (written here from
    YOLOX's definition: centre = (raw + cell) * stride, size = exp(raw) * stride)."""
    cells = []
    for stride in (8, 16, 32):
        side = 640 // stride
        cells += [(x, y, stride) for y in range(side) for x in range(side)]
    cell_x, cell_y, stride = cells[anchor]
    x0, y0, x1, y1 = box_xyxy
    row = np.zeros(85, dtype=np.float32)
    row[0] = (x0 + x1) / 2 / stride - cell_x
    row[1] = (y0 + y1) / 2 / stride - cell_y
    row[2] = np.log((x1 - x0) / stride)
    row[3] = np.log((y1 - y0) / stride)
    row[4] = objectness
    row[5] = person
    if other_class is not None:
        row[5 + other_class[0]] = other_class[1]
    return row


def constant_detector(path: Path, rows: dict[int, np.ndarray]) -> Path:
    anchors = np.array(sorted(rows), dtype=np.int64)
    indices = np.stack([np.zeros_like(anchors), anchors], axis=1)
    updates = np.stack([rows[a] for a in sorted(rows)]).astype(np.float32)
    nodes = [
        *_zero_times_sum("images"),
        _const("shape", np.array([1, ANCHORS, 85], dtype=np.int64)),
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"], value=helper.make_tensor("v", 1, [1], [0.0])),
        _const("indices", indices),
        _const("updates", updates),
        helper.make_node("ScatterND", ["zeros", "indices", "updates"], ["table"]),
        helper.make_node("Add", ["table", "input_dependency"], ["output"]),
    ]
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, ANCHORS, 85])]
    return _save(nodes, inputs, outputs, path)


def blob_detector(path: Path) -> Path:
    def scalar(prefix: str, profile: str, last: int) -> list[onnx.NodeProto]:
        return [
            helper.make_node("ArgMax", [profile], [f"{prefix}_i"], axis=2, keepdims=0, select_last_index=last),
            helper.make_node("Cast", [f"{prefix}_i"], [f"{prefix}_f"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", [f"{prefix}_f", "one_shape"], [prefix]),
        ]

    nodes = [
        _const("one_shape", np.array([1], dtype=np.int64)),
        _const("starts", np.array([0], dtype=np.int64)),
        _const("ends", np.array([1], dtype=np.int64)),
        _const("axes", np.array([1], dtype=np.int64)),
        helper.make_node("Slice", ["images", "starts", "ends", "axes"], ["channel"]),
        _const("threshold", np.float32(127.0)),
        helper.make_node("Greater", ["channel", "threshold"], ["bright_b"]),
        helper.make_node("Cast", ["bright_b"], ["bright"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["bright"], ["columns"], axes=[2], keepdims=0),  # (1, 1, 640)
        helper.make_node("ReduceMax", ["bright"], ["rows"], axes=[3], keepdims=0),
        helper.make_node("ReduceMax", ["bright"], ["found_s"], keepdims=0),
        helper.make_node("Reshape", ["found_s", "one_shape"], ["found"]),
        *scalar("x0", "columns", 0),
        *scalar("x1", "columns", 1),
        *scalar("y0", "rows", 0),
        *scalar("y1", "rows", 1),
        _const("one", np.array([1.0], dtype=np.float32)),
        _const("stride", np.array([8.0], dtype=np.float32)),
        # Pixel edges: the box spans [first bright, last bright + 1).
        helper.make_node("Add", ["x1", "one"], ["x1e"]),
        helper.make_node("Add", ["y1", "one"], ["y1e"]),
        helper.make_node("Sub", ["x1e", "x0"], ["w"]),
        helper.make_node("Sub", ["y1e", "y0"], ["h"]),
        helper.make_node("Add", ["x0", "x1e"], ["x2c"]),
        helper.make_node("Add", ["y0", "y1e"], ["y2c"]),
        _const("sixteen", np.array([16.0], dtype=np.float32)),
        helper.make_node("Div", ["x2c", "sixteen"], ["raw_x"]),  # centre / stride 8, cell (0, 0)
        helper.make_node("Div", ["y2c", "sixteen"], ["raw_y"]),
        helper.make_node("Div", ["w", "stride"], ["w8"]),
        helper.make_node("Div", ["h", "stride"], ["h8"]),
        helper.make_node("Log", ["w8"], ["raw_w"]),
        helper.make_node("Log", ["h8"], ["raw_h"]),
        _const("person", np.array([0.9], dtype=np.float32)),
        _const("others", np.zeros(79, dtype=np.float32)),
        helper.make_node("Concat", ["raw_x", "raw_y", "raw_w", "raw_h", "found", "person", "others"], ["row"], axis=0),
        _const("row_shape", np.array([1, 1, 85], dtype=np.int64)),
        helper.make_node("Reshape", ["row", "row_shape"], ["row3"]),
        _const("rest_shape", np.array([1, ANCHORS - 1, 85], dtype=np.int64)),
        helper.make_node("ConstantOfShape", ["rest_shape"], ["rest"], value=helper.make_tensor("v", 1, [1], [0.0])),
        helper.make_node("Concat", ["row3", "rest"], ["output"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, ANCHORS, 85])]
    return _save(nodes, inputs, outputs, path)


def simcc_tables(x_bins, y_bins, heights, width_bins: int = 576, height_bins: int = 768):
    """Constant SimCC maps with one peak per keypoint (background 0)."""
    simcc_x = np.zeros((1, len(x_bins), width_bins), dtype=np.float32)
    simcc_y = np.zeros((1, len(y_bins), height_bins), dtype=np.float32)
    for k, (bx, by, height) in enumerate(zip(x_bins, y_bins, heights, strict=True)):
        simcc_x[0, k, bx] = height
        simcc_y[0, k, by] = height
    return simcc_x, simcc_y


def planted_pose_model(
    path: Path,
    simcc_x: np.ndarray,
    simcc_y: np.ndarray,
    input_shape=(1, 3, 384, 288),
    names=("simcc_x", "simcc_y"),
) -> Path:
    nodes = [
        *_zero_times_sum("input"),
        _const("table_x", simcc_x),
        _const("table_y", simcc_y),
        helper.make_node("Add", ["table_x", "input_dependency"], [names[0]]),
        helper.make_node("Add", ["table_y", "input_dependency"], [names[1]]),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_shape))]
    outputs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, list(simcc_x.shape)),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, list(simcc_y.shape)),
    ]
    return _save(nodes, inputs, outputs, path)


def blob_pose_model(path: Path) -> Path:
    """First/last bright column and row of channel 0 (normalised value > 0, i.e. about 124 of 255)."""

    def axis_maps(profile: str, length: int, out: str) -> list[onnx.NodeProto]:
        # Each crop pixel becomes two SimCC bins; the ramp makes the last bright bin the arg-max.
        return [
            helper.make_node("Unsqueeze", [profile, "last_axis"], [f"{out}_u"]),
            helper.make_node("Concat", [f"{out}_u", f"{out}_u"], [f"{out}_pairs"], axis=3),
            _const(f"{out}_shape", np.array([0, 1, 2 * length], dtype=np.int64)),
            helper.make_node("Reshape", [f"{out}_pairs", f"{out}_shape"], [f"{out}_bins"]),
            _const(f"{out}_ramp", (1.0 + np.arange(2 * length, dtype=np.float32) / 1e4).reshape(1, 1, -1)),
            helper.make_node("Mul", [f"{out}_bins", f"{out}_ramp"], [f"{out}_last"]),
            helper.make_node("Expand", [f"{out}_bins", "first_shape"], [f"{out}_a"]),
            helper.make_node("Expand", [f"{out}_last", "second_shape"], [f"{out}_b"]),
            helper.make_node("Concat", [f"{out}_a", f"{out}_b"], [out], axis=1),
        ]

    nodes = [
        _const("starts", np.array([0], dtype=np.int64)),
        _const("ends", np.array([1], dtype=np.int64)),
        _const("axes", np.array([1], dtype=np.int64)),
        _const("last_axis", np.array([3], dtype=np.int64)),
        _const("first_shape", np.array([1, 67, 1], dtype=np.int64)),
        _const("second_shape", np.array([1, KEYPOINTS - 67, 1], dtype=np.int64)),
        helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["channel"]),
        _const("threshold", np.float32(0.0)),
        helper.make_node("Greater", ["channel", "threshold"], ["bright_b"]),
        helper.make_node("Cast", ["bright_b"], ["bright"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["bright"], ["columns"], axes=[2], keepdims=0),  # (N, 1, 288)
        helper.make_node("ReduceMax", ["bright"], ["rows"], axes=[3], keepdims=0),  # (N, 1, 384)
        *axis_maps("columns", 288, "simcc_x"),
        *axis_maps("rows", 384, "simcc_y"),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 384, 288])]
    outputs = [
        helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, ["batch", KEYPOINTS, 576]),
        helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, ["batch", KEYPOINTS, 768]),
    ]
    return _save(nodes, inputs, outputs, path)


# --- the stand-ins themselves have the real signatures --------------------------------------------------------


# A person standing facing the camera, arms down, in the 288x384 crop of the pose model: COCO-17 body points.
_STANDING_BODY = [
    (144, 60), (152, 52), (136, 52), (160, 58), (128, 58),  # nose, left / right eye, left / right ear
    (184, 110), (104, 110), (196, 170), (92, 170), (204, 228), (84, 228),  # shoulders, elbows, wrists (left first)
    (166, 220), (122, 220), (168, 290), (120, 290), (170, 355), (118, 355),  # hips, knees, ankles
]  # fmt: skip


def standing_body_pose_model(path: Path) -> Path:
    """A pose model that always answers a plausible standing person inside the detected box (133 COCO-WholeBody
    points: body, feet, a ring of face points, hands fanned below the wrists), so a motion can be fitted to it."""
    points = list(_STANDING_BODY)
    points += [(174, 368), (182, 366), (168, 360), (114, 368), (106, 366), (120, 360)]  # feet: toes, heel per side
    points += [(144 + 22 * math.cos(a), 62 + 28 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 68, endpoint=False)]
    for wrist_x, sign in ((204, 1), (84, -1)):  # left hand, then right hand: wrist, then 4 points per finger
        points.append((wrist_x, 228))
        for finger in range(5):
            for joint in range(1, 5):
                points.append((wrist_x + sign * (finger - 2) * 3 + sign * joint, 228 + 5 * joint))
    x_bins = [int(round(2 * x)) for x, _ in points]
    y_bins = [int(round(2 * y)) for _, y in points]
    simcc_x, simcc_y = simcc_tables(x_bins, y_bins, [1.0] * len(points))
    return planted_pose_model(path, simcc_x, simcc_y)


def write_dwpose_models(folder: Path, pose_model: str = "blob") -> Path:
    """Stand-ins under folder/dwpose/ with the real file names, as a user arranges the real pair: the blob detector
    and the blob pose model (box corners) or ``pose_model="standing"`` (a plausible standing person)."""
    from realisdance.pose.dwpose import DETECTOR_FILE, POSE_FILE

    blob_detector(folder / "dwpose" / DETECTOR_FILE)
    if pose_model == "standing":
        standing_body_pose_model(folder / "dwpose" / POSE_FILE)
    else:
        blob_pose_model(folder / "dwpose" / POSE_FILE)
    return folder


# ---- stand-ins for every pose file a workflow names ----

# The GVHMR stand-in's image size: the 4:5 aspect of the demo reference image (realisdance.demo_inputs, 256x320),
# since the shape fit starts from the motion's first frame and needs the reference's framing.
WORKFLOW_MOTION_SIZE = (64, 80)
WORKFLOW_MOTION_FRAMES = 6


def place_pose_files(prompt: dict, base: Path, body_source: Path | None = None) -> list[str]:
    """Write a stand-in for every pose asset the API ``prompt`` names under the ComfyUI base folder ``base``:
    body-model folders, GVHMR results, HaMeR dumps (empty hands) and DWPose model folders. Returns what it placed.

    body_source: a :func:`write_body_folder` folder to copy (building one takes about a second)."""
    placed = []
    for node in prompt.values():
        class_type, inputs = node["class_type"], node.get("inputs", {})
        if class_type == "RealisDanceBodyModelLoader":
            target = base / "models" / "realisdance" / inputs["folder"]
            if not target.exists():
                if body_source is not None:
                    shutil.copytree(body_source, target)
                else:
                    write_body_folder(target)
            placed.append(f"{class_type}.folder")
        elif class_type == "RealisDanceLoadGVHMR":
            write_gvhmr(base / "input" / inputs["path"], WORKFLOW_MOTION_FRAMES, *WORKFLOW_MOTION_SIZE)
            placed.append(f"{class_type}.path")
        elif class_type == "RealisDanceLoadHaMeR":
            write_hamer(base / "input" / inputs["path"], [(None, None)] * WORKFLOW_MOTION_FRAMES)
            placed.append(f"{class_type}.path")
        elif class_type == "RealisDanceDWPose":
            models = base / "models" / "realisdance" / inputs["models"]
            if not models.exists():
                # A motion fit needs a body in the keypoints; the box corners of the blob model are none.
                fits = any(n["class_type"] == "RealisDanceFitMotion" for n in prompt.values())
                write_dwpose_models(models.parent, "standing" if fits else "blob")  # <folder>/dwpose/*.onnx
                if models.name != "dwpose":
                    (models.parent / "dwpose").rename(models)
            placed.append(f"{class_type}.models")
    return placed
