"""Fréchet distances between feature distributions: FID (Inception features of frames) and FVD (I3D features of
clips) are this distance between the Gaussians fitted to real and generated features,

    d^2 = |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2)).

The matrix square root is taken as sqrt(S_r) S_g sqrt(S_r)'s square root, whose trace equals tr((S_r S_g)^(1/2))
and which is symmetric positive semi-definite, so it comes from an eigen-decomposition in float64 (no scipy needed,
and no complex parts from round-off as with a general square root).

The feature networks are the user's files (their licences and downloads are theirs): a TorchScript module taking a
batch of images or clips and returning one feature vector each, e.g. the Inception-v3 and I3D TorchScript files
that StyleGAN's metrics and StyleGAN-V's FVD use. ``load_feature_network`` says in one sentence what is missing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..errors import InputError


def gaussian(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of (N, D) features, float64."""
    features = features.double()
    if features.ndim != 2 or features.shape[0] < 2:
        raise InputError(f"a Fréchet distance needs at least 2 feature vectors (N, D); got {tuple(features.shape)}")
    dims = features.shape[1]
    return features.mean(0), torch.cov(features.T).reshape(dims, dims)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(real: torch.Tensor, generated: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two (N, D) feature sets."""
    mu_r, cov_r = gaussian(real)
    mu_g, cov_g = gaussian(generated)
    root = _psd_sqrt(cov_r)
    cross = _psd_sqrt(root @ cov_g @ root)
    return float((mu_r - mu_g).square().sum() + torch.trace(cov_r) + torch.trace(cov_g) - 2 * torch.trace(cross))


def load_feature_network(path: str | Path | None, what: str, option: str) -> torch.jit.ScriptModule:
    """A TorchScript feature network from the user's file, or one sentence saying what to give."""
    if path is None:
        raise InputError(f"{what} needs its feature network: give {option} PATH (a TorchScript file)")
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{option} {path} does not exist; give the {what} feature network's TorchScript file")
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated in torch, but it is how these networks ship
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as error:
        raise InputError(
            f"{path} is not a TorchScript module ({str(error).splitlines()[0]}); {what} needs one"
        ) from None
