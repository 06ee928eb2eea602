"""Non-blind deconvolution of one disc blur by half-quadratic splitting under a hyper-Laplacian gradient prior.

Solves ``min_x (1/2) |k * x - y|^2 + lambda sum |grad x|^alpha`` (Krishnan and Fergus 2009): the gradients are
split off as w, and two steps alternate while the splitting weight beta grows: w from the gradients of x by
per-pixel shrinkage (`restore.shrink`), x from w in closed form in the Fourier domain.  The image is first
edge-extended by the kernel's reach and its border band blended across the frame's wrap, so the periodic
transform sees no jump at the borders and nothing wraps around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.aperture import aperture_kernel, kernel_radius_px
from refocus_cli.restore.shrink import shrink


@dataclass(frozen=True)
class SplittingSettings:
    """Knobs of one half-quadratic splitting run.

    Attributes:
        prior_weight: lambda, weight of the gradient prior against the data term, for images whose typical
            level is about 0.2 (linear light); bigger = smoother, less ringing and noise, less detail back.
        alpha: exponent of the hyper-Laplacian prior (0.5-0.8: sparse gradients, sharp edges).
        beta_start: first splitting weight, in units of 1 / lambda.
        beta_growth: factor beta grows by each iteration.
        iterations: x-steps (each one w-step before it).
    """

    prior_weight: float = 3e-4
    alpha: float = 0.65
    beta_start: float = 1.0
    beta_growth: float = 2.8
    iterations: int = 6


def fast_length(n: int) -> int:
    """Smallest m >= n with no prime factor above 5 (FFTs of such lengths are fast).

    >>> fast_length(109)
    120
    """
    m = n
    while True:
        rest = m
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 1


def _wrap_blend(image: torch.Tensor, inner: int, dim: int) -> torch.Tensor:
    """Replace the band after the first `inner` entries along `dim` by a linear blend from the last inner
    value to the first one, so the frame is continuous across its periodic wrap."""
    size = image.shape[dim]
    band = size - inner
    if band <= 0:
        return image
    last = image.narrow(dim, inner - 1, 1)
    first = image.narrow(dim, 0, 1)
    shape = [1] * image.ndim
    shape[dim] = band
    t = (torch.arange(1, band + 1, dtype=image.dtype, device=image.device) / (band + 1)).view(shape)
    return torch.cat((image.narrow(dim, 0, inner), torch.lerp(last, first, t)), dim=dim)


def periodic_frame(image: torch.Tensor, pad_px: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[N,C,H,W] -> ([N,C,H',W'], (top, left)): the image placed at (top, left) with `pad_px` of extended edge
    on every side, then a band blended across the wrap up to FFT-friendly sizes H' and W'."""
    h, w = image.shape[-2:]
    out_h, out_w = fast_length(h + 2 * pad_px + 8), fast_length(w + 2 * pad_px + 8)
    # Mirrored edges: the mirror image of a disc-blurred photo is the blur of the mirrored scene.
    mode = "reflect" if pad_px < min(h, w) else "replicate"
    extended = F.pad(image, (pad_px, pad_px, pad_px, pad_px), mode=mode)
    grown = F.pad(extended, (0, out_w - w - 2 * pad_px, 0, out_h - h - 2 * pad_px))
    frame = _wrap_blend(_wrap_blend(grown, h + 2 * pad_px, -2), w + 2 * pad_px, -1)
    return frame, (pad_px, pad_px)


def disc_otf(radius_px: float, size_hw: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """rfft2 of the disc kernel of `radius_px`, centred at the origin of an H x W frame: [H, W//2+1] complex."""
    kernel = aperture_kernel(radius_px, device=like.device, dtype=like.dtype)
    h, w = size_hw
    half = kernel.shape[-1] // 2
    frame = torch.zeros(h, w, dtype=like.dtype, device=like.device)
    frame[: kernel.shape[0], : kernel.shape[1]] = kernel
    return torch.fft.rfft2(torch.roll(frame, shifts=(-half, -half), dims=(0, 1)))


def gradient_power(size_hw: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """|Dx|^2 + |Dy|^2 of periodic forward differences on an H x W frame, rfft2 layout [H, W//2+1]."""
    h, w = size_hw
    fy = torch.fft.fftfreq(h, dtype=like.dtype, device=like.device).view(h, 1)
    fx = torch.fft.rfftfreq(w, dtype=like.dtype, device=like.device).view(1, -1)
    return (2 - 2 * torch.cos(2 * math.pi * fy)) + (2 - 2 * torch.cos(2 * math.pi * fx))


def deconvolve_frame(
    frame: torch.Tensor, spectrum: torch.Tensor, radius_px: float, settings: SplittingSettings
) -> torch.Tensor:
    """Half-quadratic splitting on a periodic frame [N,C,H,W] whose rfft2 is `spectrum`; returns [N,C,H,W].

    The data term is weighted 1 / lambda and beta runs ``beta_start * growth^i`` (Krishnan and Fergus' scaling).
    With no iterations it is the closed form under a Gaussian gradient prior (a Wiener filter).
    """
    size = (frame.shape[-2], frame.shape[-1])
    otf = disc_otf(radius_px, size, frame)
    data_weight = 1.0 / settings.prior_weight
    blur_power = data_weight * otf.abs() ** 2
    blurred_data = data_weight * otf.conj() * spectrum
    smooth = gradient_power(size, frame)
    if settings.iterations == 0:
        return torch.fft.irfft2(blurred_data / (blur_power + smooth), s=size)
    x = frame
    beta = settings.beta_start
    for _ in range(settings.iterations):
        gx = torch.roll(x, -1, dims=-1) - x
        gy = torch.roll(x, -1, dims=-2) - x
        wx, wy = shrink(gx, beta, settings.alpha), shrink(gy, beta, settings.alpha)
        divergence = (torch.roll(wx, 1, dims=-1) - wx) + (torch.roll(wy, 1, dims=-2) - wy)  # D^T w
        numerator = blurred_data + beta * torch.fft.rfft2(divergence)
        x = torch.fft.irfft2(numerator / (blur_power + beta * smooth), s=size)
        beta *= settings.beta_growth
    return x


def hqs_deconvolve(image: torch.Tensor, radius_px: float, settings: SplittingSettings | None = None) -> torch.Tensor:
    """Undo a disc blur of one radius over a whole image (edges extended and tapered, nothing wraps).

    Args:
        image: [N,C,H,W] blurred by the disc of `radius_px` (linear light).
        radius_px: CoC radius in pixels (the sign is ignored: a disc is symmetric).
        settings: splitting knobs.

    Returns:
        [N,C,H,W] deconvolved, not clamped.

    >>> hqs_deconvolve(torch.ones(1, 3, 8, 8), 2.0).shape
    torch.Size([1, 3, 8, 8])
    """
    settings = settings or SplittingSettings()
    h, w = image.shape[-2:]
    pad = 2 * kernel_radius_px(abs(radius_px)) + 4
    frame, (top, left) = periodic_frame(image, pad)
    x = deconvolve_frame(frame, torch.fft.rfft2(frame), abs(radius_px), settings)
    return x[..., top : top + h, left : left + w]
