"""Procedural SMPL-X and MANO model files with the real keys, shapes and kinematic trees (no licensed data).

The body is a set of closed tubes, one per bone, skinned 100 % to the bone's parent joint, so the skinning is
easy to reason about; the real vertex/face/joint counts are met by padding with unused vertices and degenerate
faces. J_regressor rows average the ring of vertices centred on each joint, so rest joints are exact. Shape
direction 0 scales the body about the pelvis (height), 1 inflates every tube (girth), 2 lengthens the legs; the
rest are small random part offsets. Hand PCA components are a random orthonormal basis and the hand means small
random poses, so PCA and flat_hand_mean are exercised.
"""

from __future__ import annotations

import math
import pickle
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
COLOUR_TABLE = SHARED_DATA / "body" / "smplx_color.pt"

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
