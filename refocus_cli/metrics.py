"""Image quality metrics on [N,C,H,W] tensors in [0, 1]: PSNR and SSIM (Wang et al. 2004)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(image: torch.Tensor, reference: torch.Tensor, *, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (inf for identical images).

    >>> round(psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.1)), 4)
    20.0
    """
    mse = float(((image - reference) ** 2).mean())
    return math.inf if mse == 0 else round(10.0 * math.log10(peak**2 / mse), 10)


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_map(image: torch.Tensor, reference: torch.Tensor, *, peak: float = 1.0) -> torch.Tensor:
    """Structural similarity per pixel and channel, [N,C,H-10,W-10]: an 11x11 Gaussian window (sigma 1.5), the
    valid region only (pixel (y, x) of the map is the window centred on input pixel (y + 5, x + 5)).

    >>> ssim_map(torch.ones(1, 3, 16, 16), torch.ones(1, 3, 16, 16)).shape
    torch.Size([1, 3, 6, 6])
    """
    c = image.shape[1]
    window = _gaussian_window(11, 1.5, c, image)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu_x = F.conv2d(image, window, groups=c)
    mu_y = F.conv2d(reference, window, groups=c)
    sxx = F.conv2d(image * image, window, groups=c) - mu_x**2
    syy = F.conv2d(reference * reference, window, groups=c) - mu_y**2
    sxy = F.conv2d(image * reference, window, groups=c) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return numerator / denominator


def ssim(image: torch.Tensor, reference: torch.Tensor, *, peak: float = 1.0) -> float:
    """Mean structural similarity with an 11x11 Gaussian window (sigma 1.5), per channel, valid region.

    >>> ssim(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)),
    ...      torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    1.0
    """
    return round(float(ssim_map(image, reference, peak=peak).mean()), 6)


def masked_psnr(image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, *, peak: float = 1.0) -> float:
    """PSNR in dB over the pixels where `mask` [N,1,H,W] (bool) is set, all channels of [N,C,H,W]; nan for an
    empty mask, inf for identical pixels.

    >>> mask = torch.tensor([[[[True, False]]]])
    >>> round(masked_psnr(torch.zeros(1, 1, 1, 2), torch.tensor([[[[0.1, 0.9]]]]), mask), 4)
    20.0
    """
    selected = mask.expand_as(image)
    if not bool(selected.any()):
        return math.nan
    mse = float(((image - reference)[selected] ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def masked_ssim(image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, *, peak: float = 1.0) -> float:
    """SSIM map (`ssim_map`) averaged over channels and over the pixels where `mask` [N,1,H,W] (bool) is set
    (the map covers all but a 5 px border, so the mask's border is left out); nan when no masked pixel is in it.

    >>> x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> masked_ssim(x, x, torch.ones(1, 1, 16, 16, dtype=torch.bool))
    1.0
    """
    inner = mask[..., 5:-5, 5:-5]
    if not bool(inner.any()):
        return math.nan
    per_pixel = ssim_map(image, reference, peak=peak).mean(dim=1, keepdim=True)
    return round(float(per_pixel[inner].mean()), 6)


def temporal_flicker(frames: torch.Tensor) -> float:
    """Mean absolute change between consecutive frames, over all pixels, channels and pairs of frames.

    On a static scene every change is flicker; the figure is in the frames' own units (8-bit levels for
    frames read from 8-bit files).

    Args:
        frames: [T,C,H,W], T >= 2, in time order.

    >>> temporal_flicker(torch.tensor([0.0, 2.0, 1.0]).view(3, 1, 1, 1))
    1.5
    """
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"temporal_flicker needs [T,C,H,W] frames with T >= 2, got {tuple(frames.shape)}")
    return float((frames[1:].double() - frames[:-1].double()).abs().mean())
