"""Measuring videos against each other: frame metrics (PSNR, SSIM) for the speed and quality benchmarks."""

from .frame_metrics import psnr, ssim

__all__ = ["psnr", "ssim"]
