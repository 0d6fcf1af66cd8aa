"""Where the OpenPose-18 body and OpenPose hand keypoints sit on SMPL-X.

Each keypoint is either the mean of some of the 55 skeleton joints (root, 21 body, jaw, 2 eyes, 15 + 15 finger
joints in the SMPL-X file order) or one surface vertex. This is the usual SMPL-X -> OpenPose convention (the one
SMPLify-X and the ``smplx`` package use): joints where OpenPose has a joint, the SMPL-X eye joints for the
eyes, and vertices for the points the skeleton lacks (nose, ears, finger tips; the vertex ids are those of the
real SMPL-X topology). The OpenPose neck is not the SMPL-X neck joint (that sits at the base of the head): it
is the midpoint of the shoulders, as DWPose computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError

# SMPL-X skeleton joints used below (file order).
_L_HIP, _R_HIP, _L_KNEE, _R_KNEE, _L_ANKLE, _R_ANKLE = 1, 2, 4, 5, 7, 8
_L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW, _L_WRIST, _R_WRIST = 16, 17, 18, 19, 20, 21
_L_EYE, _R_EYE = 23, 24
# Finger chains per hand, three joints each, in file order: index, middle, pinky, ring, thumb.
_LEFT_FINGERS = {"index": 25, "middle": 28, "pinky": 31, "ring": 34, "thumb": 37}
_RIGHT_FINGERS = {"index": 40, "middle": 43, "pinky": 46, "ring": 49, "thumb": 52}
# Surface vertices of the real SMPL-X mesh (10475 vertices) for points with no skeleton joint.
SMPLX_NOSE_VERTEX, SMPLX_RIGHT_EAR_VERTEX, SMPLX_LEFT_EAR_VERTEX = 9120, 616, 6
SMPLX_LEFT_TIP_VERTICES = {"thumb": 5361, "index": 4933, "middle": 5058, "ring": 5169, "pinky": 5286}
SMPLX_RIGHT_TIP_VERTICES = {"thumb": 8079, "index": 7669, "middle": 7794, "ring": 7905, "pinky": 8022}
_OPENPOSE_FINGER_ORDER = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class Landmark:
    """A keypoint on the body: the mean of ``joints`` (skeleton indices), or the surface vertex ``vertex``."""

    joints: tuple[int, ...] = ()
    vertex: int | None = None

    def __post_init__(self) -> None:
        if (len(self.joints) == 0) == (self.vertex is None):
            raise InputError("A landmark is either a set of joints or one vertex.")


def _hand(wrist: int, fingers: dict[str, int], tips: dict[str, int]) -> tuple[Landmark, ...]:
    points = [Landmark((wrist,))]
    for name in _OPENPOSE_FINGER_ORDER:
        first = fingers[name]
        points += [Landmark((first,)), Landmark((first + 1,)), Landmark((first + 2,)), Landmark(vertex=tips[name])]
    return tuple(points)


OPENPOSE18_FROM_SMPLX: tuple[Landmark, ...] = (
    Landmark(vertex=SMPLX_NOSE_VERTEX),  # 0 nose
    Landmark((_R_SHOULDER, _L_SHOULDER)),  # 1 neck = midpoint of the shoulders
    Landmark((_R_SHOULDER,)),  # 2
    Landmark((_R_ELBOW,)),  # 3
    Landmark((_R_WRIST,)),  # 4
    Landmark((_L_SHOULDER,)),  # 5
    Landmark((_L_ELBOW,)),  # 6
    Landmark((_L_WRIST,)),  # 7
    Landmark((_R_HIP,)),  # 8
    Landmark((_R_KNEE,)),  # 9
    Landmark((_R_ANKLE,)),  # 10
    Landmark((_L_HIP,)),  # 11
    Landmark((_L_KNEE,)),  # 12
    Landmark((_L_ANKLE,)),  # 13
    Landmark((_R_EYE,)),  # 14
    Landmark((_L_EYE,)),  # 15
    Landmark(vertex=SMPLX_RIGHT_EAR_VERTEX),  # 16
    Landmark(vertex=SMPLX_LEFT_EAR_VERTEX),  # 17
)
OPENPOSE_LEFT_HAND_FROM_SMPLX = _hand(_L_WRIST, _LEFT_FINGERS, SMPLX_LEFT_TIP_VERTICES)
OPENPOSE_RIGHT_HAND_FROM_SMPLX = _hand(_R_WRIST, _RIGHT_FINGERS, SMPLX_RIGHT_TIP_VERTICES)
# DWPose's six foot points (COCO-WholeBody 17-22: left big toe, small toe, heel, then right) on SMPL-X surface
# vertices (the ids the smplx package uses for these points).
FEET_FROM_SMPLX: tuple[Landmark, ...] = tuple(Landmark(vertex=v) for v in (5770, 5780, 8846, 8463, 8474, 8635))
OPENPOSE18_HIPS = (8, 11)  # SMPL-X hip joints sit deeper and lower than OpenPose's, so fits down-weight them


@dataclass(frozen=True)
class LandmarkSet:
    """The body (18) and hand (21 + 21) keypoints as SMPL-X landmarks; replace entries for other topologies."""

    body: tuple[Landmark, ...] = OPENPOSE18_FROM_SMPLX
    left_hand: tuple[Landmark, ...] = OPENPOSE_LEFT_HAND_FROM_SMPLX
    right_hand: tuple[Landmark, ...] = OPENPOSE_RIGHT_HAND_FROM_SMPLX
    feet: tuple[Landmark, ...] = FEET_FROM_SMPLX

    @property
    def all(self) -> tuple[Landmark, ...]:
        """Body, then left hand, then right hand (the order of :func:`landmark_positions`' output)."""
        return self.body + self.left_hand + self.right_hand

    @property
    def with_feet(self) -> tuple[Landmark, ...]:
        """Body, left hand, right hand, then the six foot points (the motion fit's order)."""
        return self.all + self.feet


def landmark_positions(landmarks: tuple[Landmark, ...], joints: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """(B, J, 3) joints and (B, V, 3) vertices -> (B, N, 3) landmark positions (differentiable)."""
    num_joints, num_vertices = joints.shape[1], vertices.shape[1]
    mixing = torch.zeros(len(landmarks), num_joints, dtype=joints.dtype, device=joints.device)
    vertex_ids = torch.zeros(len(landmarks), dtype=torch.long, device=joints.device)
    from_vertex = torch.zeros(len(landmarks), 1, dtype=joints.dtype, device=joints.device)
    for index, landmark in enumerate(landmarks):
        if landmark.vertex is not None:
            if not 0 <= landmark.vertex < num_vertices:
                raise InputError(f"Landmark vertex {landmark.vertex} does not exist on a {num_vertices}-vertex mesh.")
            vertex_ids[index], from_vertex[index] = landmark.vertex, 1.0
            continue
        if max(landmark.joints) >= num_joints:
            raise InputError(f"Landmark joints {landmark.joints} do not exist on a {num_joints}-joint skeleton.")
        mixing[index, list(landmark.joints)] = 1.0 / len(landmark.joints)
    return torch.einsum("nj,bjc->bnc", mixing, joints) + from_vertex * vertices[:, vertex_ids]
