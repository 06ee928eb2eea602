"""The fusion's shared conversions: gamma-encoded luma of linear frames, and frames as OpenCV's [H,W,C] arrays."""

from __future__ import annotations

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
