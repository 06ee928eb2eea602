"""The fusion's shared conversions: gamma-encoded luma of linear frames, frames as OpenCV's [H,W,C] arrays, and
the Gaussian blur of such arrays."""

from __future__ import annotations

import math

import numpy as np
import torch

LUMA = (0.2126, 0.7152, 0.0722)


def luma(linear: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] linear -> [N,1,H,W] gamma-encoded luma: the square root of linear luminance, near sRGB's curve
    (so dark and bright detail count alike) and several times cheaper to compute."""
    weights = torch.tensor(LUMA, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    return (linear.clamp(0, 1) * weights).sum(dim=1, keepdim=True).sqrt()


def hwc(frame: torch.Tensor) -> np.ndarray:
    """[1,C,H,W] (any float dtype, on the CPU) -> [H,W,C] float32 array; no copy for a channels-last float32
    tensor (what `warp_to_reference` returns)."""
    return np.ascontiguousarray(frame[0].permute(1, 2, 0).float().numpy())


def blur_array(plane: np.ndarray, sigma_px: float) -> np.ndarray:
    """`filters.gaussian_blur` of an [H,W] or [H,W,C] float32 array (the same taps and border)."""
    import cv2

    radius = max(1, math.ceil(3 * sigma_px))
    return cv2.GaussianBlur(plane, (2 * radius + 1, 2 * radius + 1), sigma_px, sigmaY=sigma_px)
