"""Settings of the reference-shape fit (:func:`~.fit.fit_reference_shape`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError
from ..landmarks import LandmarkSet


@dataclass(frozen=True)
class ShapeFitOptions:
    """Weights and schedule of the betas fit.

    Residuals are measured in fractions of the image's longer side, so the weights do not depend on resolution.

    * iterations / learning_rate: Adam steps of the main stage (betas, orientation, translation).
    * num_betas: how many shape coefficients to fit (the rest stay 0); 10 is GVHMR's and RealisDance's count.
    * keypoint_weight / robust_scale: Geman-McClure reprojection term; residuals much larger than
      ``robust_scale`` (about 2 % of the image) count as outliers and stop pulling.
    * hip_weight / hand_weight: per-point multipliers; SMPL-X hips sit lower and deeper than OpenPose's, and the
      hands are off by default because finger articulation is not fitted.
    * min_confidence: keypoints below it are ignored.
    * inside_weight: projected body vertices must fall inside the mask (distance-transform term).
    * coverage_weight / coverage_tolerance: every mask pixel should lie within ``coverage_tolerance`` (fraction
      of the longer side) of some projected vertex (chamfer term pushing the body to fill the mask).
    * beta_prior_weight: Gaussian prior pulling betas towards the mean shape (unobserved directions stay 0).
    * refine_depth: also move the body along the viewing axis in the main stage. Off by default: size and
      distance are interchangeable in one image, so the initial depth (GVHMR's, or the neutral body's) is kept
      and the fit explains the image with shape.
    * refine_body_pose: also adjust the 21 body joint rotations, with ``pose_prior_weight`` pulling them back to
      the initial pose. None means: only when no initial pose is given (a neutral T-pose rarely matches a photo).
    * fit_size: the mask and camera are resampled so the longer side has this many pixels (speed).
    * max_vertices / max_mask_pixels: subsampling of the silhouette terms (speed); coverage_refresh: steps
      between re-pairing mask pixels with their nearest vertices (the pairing changes slowly).
    * init_iterations: Adam steps fitting only orientation and translation first, when no initial pose is given.
    """

    iterations: int = 200
    learning_rate: float = 0.05
    num_betas: int = 10
    keypoint_weight: float = 1.0
    robust_scale: float = 0.02
    hip_weight: float = 0.5
    hand_weight: float = 0.0
    min_confidence: float = 0.3
    inside_weight: float = 1.0
    coverage_weight: float = 1.0
    coverage_tolerance: float = 0.01
    beta_prior_weight: float = 2e-6
    refine_depth: bool = False
    refine_body_pose: bool | None = None
    pose_prior_weight: float = 1e-5
    fit_size: int = 256
    max_vertices: int = 2000
    max_mask_pixels: int = 1500
    coverage_refresh: int = 5
    init_iterations: int = 100
    landmarks: LandmarkSet = LandmarkSet()

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.init_iterations < 0:
            raise InputError("Shape-fit iteration counts cannot be negative.")
        if self.num_betas < 1:
            raise InputError("The shape fit needs at least one beta.")
        if self.learning_rate <= 0 or self.robust_scale <= 0:
            raise InputError("The shape fit's learning rate and robust scale must be positive.")
        if self.fit_size < 32:
            raise InputError(f"fit_size {self.fit_size} is too small to fit a body; use 128 or more.")
        if self.coverage_refresh < 1:
            raise InputError("coverage_refresh must be at least 1 (re-pair every step).")
        if min(self.max_vertices, self.max_mask_pixels) < 16:
            raise InputError("The silhouette terms need at least 16 vertices and 16 mask pixels.")
        weights = (self.keypoint_weight, self.hip_weight, self.hand_weight, self.inside_weight)
        if min(*weights, self.coverage_weight, self.beta_prior_weight, self.pose_prior_weight) < 0:
            raise InputError("Shape-fit weights cannot be negative.")
