"""Small image filters on tensors: Gaussian blur, Laplacian, box mean, 2x pyramids.

All take [N,C,H,W] float tensors, keep dtype and device, and pad by reflection (replication for images too
small to reflect), so borders add no dark or bright rims.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def gaussian_kernel1d(
    sigma_px: float, *, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Normalised 1-D Gaussian taps, radius ceil(3 sigma).

    >>> gaussian_kernel1d(1.0).shape
    torch.Size([7])
    """
    radius = max(1, math.ceil(3 * sigma_px))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    taps = torch.exp(-0.5 * (x / sigma_px) ** 2)
    return taps / taps.sum()


def _pad(image: torch.Tensor, pad_y: int, pad_x: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    mode = "reflect" if pad_y < h and pad_x < w else "replicate"
    return F.pad(image, (pad_x, pad_x, pad_y, pad_y), mode=mode)


def separable(image: torch.Tensor, taps_y: torch.Tensor, taps_x: torch.Tensor) -> torch.Tensor:
    """Correlate each channel of [N,C,H,W] with taps_y down the columns and taps_x along the rows."""
    c = image.shape[1]
    ry, rx = taps_y.numel() // 2, taps_x.numel() // 2
    padded = _pad(image, ry, rx)
    out = F.conv2d(padded, taps_y.view(1, 1, -1, 1).expand(c, 1, -1, 1).to(image), groups=c)
    return F.conv2d(out, taps_x.view(1, 1, 1, -1).expand(c, 1, 1, -1).to(image), groups=c)


def gaussian_blur(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Gaussian blur of [N,C,H,W] with standard deviation `sigma_px` (0 returns the input).

    >>> gaussian_blur(torch.ones(1, 2, 5, 6), 1.5).allclose(torch.ones(1, 2, 5, 6))
    True
    """
    if sigma_px <= 0:
        return image
    if _opencv_ok(image):
        return _gaussian_blur_opencv(image, sigma_px)
    taps = gaussian_kernel1d(sigma_px, device=image.device, dtype=image.dtype)
    return separable(image, taps, taps)


def _gaussian_blur_opencv(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """The same blur by OpenCV (several times faster on the CPU than a torch convolution); its default border,
    reflect-101, is torch's "reflect"."""
    import cv2

    radius = max(1, math.ceil(3 * sigma_px))
    planes = image.reshape(-1, *image.shape[-2:]).numpy()
    out = np.empty_like(planes)
    for i, plane in enumerate(planes):
        out[i] = cv2.GaussianBlur(plane, (2 * radius + 1, 2 * radius + 1), sigma_px, sigmaY=sigma_px)
    return torch.from_numpy(out).reshape(image.shape)


def laplacian(image: torch.Tensor) -> torch.Tensor:
    """The 4-neighbour Laplacian of [N,C,H,W] (zero on constant images, and inside linear ones).

    >>> laplacian(torch.arange(20.0).view(1, 1, 4, 5))[..., 1:-1, 1:-1].abs().max().item()
    0.0
    """
    c = image.shape[1]
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=image.dtype, device=image.device)
    return F.conv2d(_pad(image, 1, 1), kernel.view(1, 1, 3, 3).expand(c, 1, 3, 3), groups=c)


def downsample2(image: torch.Tensor) -> torch.Tensor:
    """Blur (binomial 1-4-6-4-1) and keep every other row and column: [N,C,H,W] -> [N,C,ceil(H/2),ceil(W/2)]."""
    if _opencv_ok(image):
        return _per_plane(image, lambda plane: _cv2().pyrDown(plane))
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=image.dtype, device=image.device) / 16
    return separable(image, taps, taps)[..., ::2, ::2]


def upsample2(image: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Upsampling of [N,C,h,w] to `size_hw` (the inverse grid of `downsample2`): OpenCV's pyrUp on the CPU,
    bilinear elsewhere. Pyramids stay exact either way: a band is what the upsampled level misses."""
    if _opencv_ok(image) and all(0 <= 2 * n - s <= 1 for n, s in zip(image.shape[-2:], size_hw, strict=True)):
        return _per_plane(image, lambda plane: _cv2().pyrUp(plane, dstsize=(size_hw[1], size_hw[0])))
    return F.interpolate(image, size=size_hw, mode="bilinear", align_corners=False)


def _cv2() -> Any:
    import cv2

    return cv2


def _opencv_ok(image: torch.Tensor) -> bool:
    """OpenCV takes over on the CPU, in float32, without autograd."""
    return image.device.type == "cpu" and image.dtype == torch.float32 and not image.requires_grad


def _per_plane(image: torch.Tensor, operation: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
    """Apply an OpenCV operation to every [H,W] plane of [N,C,H,W]."""
    planes = image.reshape(-1, *image.shape[-2:]).numpy()
    first = operation(np.ascontiguousarray(planes[0]))
    out = np.empty((len(planes), *first.shape), dtype=first.dtype)
    out[0] = first
    for i in range(1, len(planes)):
        out[i] = operation(np.ascontiguousarray(planes[i]))
    return torch.from_numpy(out).reshape(*image.shape[:-2], *first.shape)


def laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels, finest first, and the low-pass residual last: `levels` + 1 tensors that
    `collapse_pyramid` turns back into `image` exactly.

    >>> x = torch.rand(1, 3, 17, 23)
    >>> torch.allclose(collapse_pyramid(laplacian_pyramid(x, 3)), x, atol=1e-6)
    True
    """
    bands = []
    current = image
    for _ in range(levels):
        smaller = downsample2(current)
        bands.append(current - upsample2(smaller, tuple(current.shape[-2:])))  # type: ignore[arg-type]
        current = smaller
    return [*bands, current]


def gaussian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """`image` and `levels` successively halved copies, finest first."""
    pyramid = [image]
    for _ in range(levels):
        pyramid.append(downsample2(pyramid[-1]))
    return pyramid


def collapse_pyramid(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """The image a `laplacian_pyramid` came from."""
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + upsample2(image, tuple(band.shape[-2:]))  # type: ignore[arg-type]
    return image
