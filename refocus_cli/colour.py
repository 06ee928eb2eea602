"""sRGB transfer functions: the library works in linear light, files hold sRGB-encoded values."""

from __future__ import annotations

import torch


def srgb_to_linear(encoded: torch.Tensor) -> torch.Tensor:
    """Decode sRGB values to linear light (IEC 61966-2-1).

    Args:
        encoded: any shape, values in [0, 1].

    Returns:
        Linear-light values, same shape and dtype, in [0, 1].

    >>> srgb_to_linear(torch.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """
    encoded = encoded.clamp(0.0, 1.0)
    return torch.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Encode linear light as sRGB values (IEC 61966-2-1), clipping to [0, 1] first.

    Args:
        linear: any shape, values >= 0 (values above 1 clip to white).

    Returns:
        Encoded values, same shape and dtype, in [0, 1].

    >>> [round(v, 6) for v in linear_to_srgb(torch.tensor([0.0, 0.2140411, 1.0])).tolist()]
    [0.0, 0.5, 1.0]
    """
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055)
