"""A plain layered renderer by FFT, the side-by-side baseline of `refocus bench`'s peers section: the CoC range
cut into `LAYERS` hard layers, each layer's premultiplied colour and coverage blurred by the disc kernel of its
mean radius through `torch.fft.rfft2`, composited front to back and divided by the coverage gathered.

It is what a straightforward implementation does (no hidden-surface fill, no plane sharing, no reduced
resolution for wide blurs), so its time is the yardstick for the layered renderer's.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

LAYERS = 32


def fft_disc_blur(stack: torch.Tensor, radius_px: float) -> torch.Tensor:
    """[N,C,H,W] convolved with the disc kernel of `radius_px` (`aperture.aperture_kernel`), zero outside the
    image, by FFT on a grid padded by the kernel's reach (so nothing wraps around)."""
    import torch

    from refocus_cli.aperture import aperture_kernel

    kernel = aperture_kernel(radius_px, dtype=torch.float32)
    reach = kernel.shape[-1] // 2
    if reach == 0:
        return stack
    h, w = stack.shape[-2:]
    size = (h + 2 * reach, w + 2 * reach)
    spectrum = torch.fft.rfft2(stack, s=size)
    grid = torch.zeros(size, dtype=stack.dtype)
    grid[: 2 * reach + 1, : 2 * reach + 1] = kernel.flip(0, 1)  # correlation with the kernel, as conv2d does
    blurred = torch.fft.irfft2(spectrum * torch.fft.rfft2(grid), s=size)
    return blurred[..., reach : reach + h, reach : reach + w]


def render_fft_layers(image: torch.Tensor, coc_px: torch.Tensor, layers: int = LAYERS) -> torch.Tensor:
    """Lens blur of [N,3,H,W] linear light by its signed CoC map [N,1,H,W] (positive = nearer than focus):
    `layers` equal bins of the CoC range with hard edges, blurred by their mean radius, nearest first.

    >>> import torch
    >>> render_fft_layers(torch.ones(1, 3, 8, 8), torch.full((1, 1, 8, 8), 2.0)).allclose(torch.ones(1, 3, 8, 8))
    True
    """
    import torch

    low, high = float(coc_px.min()), float(coc_px.max())
    edges = torch.linspace(low, high + 1e-6, layers + 1).tolist()
    colour = torch.zeros_like(image)
    transmittance = torch.ones_like(coc_px)
    for start, stop in reversed(list(itertools.pairwise(edges))):  # nearest (largest CoC) first
        mask = ((coc_px >= start) & (coc_px < stop)).to(image.dtype)
        if float(mask.max()) == 0:
            continue
        layer = fft_disc_blur(torch.cat((mask * image, mask), dim=1), abs(0.5 * (start + stop)))
        colour = colour + transmittance * layer[:, :3]
        transmittance = transmittance * (1.0 - layer[:, 3:]).clamp(0.0, 1.0)
    return colour / (1.0 - transmittance).clamp_min(1e-6)
