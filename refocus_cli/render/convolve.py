"""Convolution of layers with aperture kernels: one kernel per channel group, in row bands for speed."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from refocus_cli.aperture import ApertureKind, ApertureShape, aperture_kernel, kernel_radius_px

_CONV_ROWS = 128  # convolution in row bands: 2-4x faster on CPU than one large call (cache)


def blur_layer(stack: torch.Tensor, radius_px: float, aperture: ApertureShape) -> torch.Tensor:
    """Convolve every channel of [N,C,H,W] with the aperture kernel of this signed radius (edges extended)."""
    return blur_layer_mixed(stack, [radius_px], aperture)


def _kernel_stack(radii_px: list[float], aperture: ApertureShape, like: torch.Tensor) -> torch.Tensor:
    """[len(radii), 2R+1, 2R+1] kernels, the smaller ones zero-padded to the largest."""
    kernels = [_kernel(r, aperture, like) for r in radii_px]
    half = max(k.shape[-1] // 2 for k in kernels)
    return torch.stack([F.pad(k, [half - k.shape[-1] // 2] * 4) for k in kernels])


def _kernel(radius_px: float, aperture: ApertureShape, like: torch.Tensor) -> torch.Tensor:
    """The aperture kernel of this radius, remembered for the shapes that are plain settings (tiles, frames and
    planes of one render ask for the same radii again); a custom opening image is built every time."""
    if aperture.custom is not None:
        return aperture_kernel(radius_px, aperture, device=like.device, dtype=like.dtype)
    key = (aperture.kind, aperture.blades, aperture.rotation_deg, aperture.aspect)
    return _remembered_kernel(radius_px, key, like.dtype, str(like.device))


@functools.lru_cache(maxsize=1024)
def _remembered_kernel(
    radius_px: float, shape: tuple[ApertureKind, int, float, float], dtype: torch.dtype, device: str
) -> torch.Tensor:
    kind, blades, rotation_deg, aspect = shape
    aperture = ApertureShape(kind, blades, rotation_deg, aspect)
    return aperture_kernel(radius_px, aperture, device=device, dtype=dtype)


def blur_layer_mixed(
    stack: torch.Tensor, radii_px: list[float], aperture: ApertureShape, *, valid_only: bool = False
) -> torch.Tensor:
    """Convolve channel group g of [N,G*C,H,W] with the kernel of radii_px[g], edges extended.

    Returns:
        [N,G*C,H,W]; each group's channels blurred by its own kernel.  With `valid_only`, only the pixels
        whose whole kernel lies inside: [N,G*C,H-2R,W-2R] (batched small blocks that carry their own halo).
    """
    half = max(kernel_radius_px(r) for r in radii_px)
    if half == 0:
        return stack
    n, channels, h, w = stack.shape
    per_group = channels // len(radii_px)
    # conv2d correlates; flipping the kernels makes it a convolution (matters for odd polygons).
    kernels = _kernel_stack(radii_px, aperture, stack).flip(-2, -1)
    if valid_only:
        weight = kernels.repeat_interleave(per_group, dim=0).unsqueeze(1)
        return F.conv2d(stack, weight, groups=channels)
    weight = kernels.repeat_interleave(per_group, dim=0).repeat(n, 1, 1).unsqueeze(1)
    padded = F.pad(stack.reshape(1, n * channels, h, w), (half, half, half, half), mode="replicate")
    bands = [
        F.conv2d(padded[..., top : top + min(_CONV_ROWS, h - top) + 2 * half, :], weight, groups=n * channels)
        for top in range(0, h, _CONV_ROWS)
    ]
    return torch.cat(bands, dim=-2).reshape(n, channels, h, w)
