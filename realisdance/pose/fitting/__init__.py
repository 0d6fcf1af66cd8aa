"""Shape-aligned rendering: fit the reference character's SMPL-X betas to its keypoints and silhouette."""

from .fit import ShapeFitResult, fit_reference_shape
from .options import ShapeFitOptions

__all__ = ["ShapeFitOptions", "ShapeFitResult", "fit_reference_shape"]
