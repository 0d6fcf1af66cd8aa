"""Settings of the motion fit (:func:`~.motion.fit_motion`): SMPL-X to a driving video's whole-body keypoints."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import InputError
from ..landmarks import LandmarkSet


@dataclass(frozen=True)
class MotionFitOptions:
    """Weights and schedule of the batched fit over all frames.

    Residuals are in fractions of the image's longer side (weights do not depend on resolution); every term is a
    mean, so the weights do not depend on the clip's length either.

    * placement_iterations: Adam steps fitting orientation and translation only (neutral body, mean shape).
    * iterations / learning_rate: Adam steps of the full fit (orientation, translation, body and hand poses, one
      shape for the whole clip).
    * robust_scale: Geman-McClure scale of the reprojection term (about 2 % of the image): a keypoint further off
      than that (a detector swap, a limb hidden behind the body) stops pulling.
    * min_confidence: keypoints below it are ignored; a frame with fewer than ``min_body_points`` confident body
      points counts as having no person and is bridged by the temporal terms.
    * hip_weight / hand_weight / foot_weight: per-point multipliers (SMPL-X hips sit lower and deeper than
      OpenPose's); the six foot points (toes, heels) turn the feet, when the estimator gives them (DWPose does).
    * pose_prior_weight / hand_prior_weight: pull body and finger rotations towards the rest pose / the relaxed
      mean hand (a prior that needs no licensed file).
    * limit_weight: knees and elbows bending the wrong way (the angle signs SMPLify uses) are penalised.
    * smooth_weight / translation_smooth_weight: frame-to-frame change of rotations (radians) and of the
      translation (metres); they carry poses across detection gaps instead of snapping.
    * shape_prior_weight / num_betas: one shape for the clip, pulled towards the mean.
    * fov_degrees: the camera's diagonal field of view; None: GVHMR's default (focal = image diagonal, 53°).
    """

    placement_iterations: int = 80
    iterations: int = 250
    learning_rate: float = 0.03
    robust_scale: float = 0.02
    min_confidence: float = 0.3
    min_body_points: int = 4
    hip_weight: float = 0.5
    hand_weight: float = 1.0
    foot_weight: float = 1.0
    pose_prior_weight: float = 1e-5
    hand_prior_weight: float = 1e-6
    limit_weight: float = 1e-2
    smooth_weight: float = 2e-3
    translation_smooth_weight: float = 5e-2
    shape_prior_weight: float = 1e-6
    num_betas: int = 10
    fov_degrees: float | None = None
    landmarks: LandmarkSet = LandmarkSet()

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.placement_iterations < 0:
            raise InputError("Motion-fit iteration counts cannot be negative.")
        if self.learning_rate <= 0 or self.robust_scale <= 0:
            raise InputError("The motion fit's learning rate and robust scale must be positive.")
        if self.num_betas < 1 or self.min_body_points < 3:
            raise InputError("The motion fit needs at least one beta and at least 3 body points per frame.")
        if self.fov_degrees is not None and not (math.isfinite(self.fov_degrees) and 1.0 <= self.fov_degrees < 179.0):
            raise InputError(f"fov_degrees must be between 1 and 179 degrees, got {self.fov_degrees}")
        weights = (
            self.hip_weight, self.hand_weight, self.foot_weight, self.pose_prior_weight, self.hand_prior_weight,
            self.limit_weight, self.smooth_weight, self.translation_smooth_weight, self.shape_prior_weight,
        )  # fmt: skip
        if min(weights) < 0:
            raise InputError("Motion-fit weights cannot be negative.")
