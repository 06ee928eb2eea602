"""Naive baseline: every pixel averages its neighbourhood within its own CoC radius, no occlusion handling.

The classic post-process depth of field; sharp foregrounds bleed over blurred backgrounds and blurred
foregrounds never spread over what lies behind them.  Kept as the baseline the benchmarks beat.
"""

from __future__ import annotations

import math

import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.render.convolve import blur_layer


def render_gather(image: torch.Tensor, coc_px: torch.Tensor, aperture: ApertureShape | None = None) -> torch.Tensor:
    """Per-pixel gather blur with the local radius (radii interpolated between whole-pixel blurs).

    Args:
        image: [N,3,H,W] linear light.
        coc_px: [N,1,H,W] signed CoC radius in pixels.

    Returns:
        [N,3,H,W] linear light.
    """
    aperture = aperture or ApertureShape()
    radius = coc_px.abs()
    top = math.ceil(float(radius.max()))
    out = torch.zeros_like(image)
    for r in range(top + 1):
        weight = (1.0 - (radius - r).abs()).clamp_min(0.0)
        if float(weight.max()) == 0.0:
            continue
        out = out + weight * blur_layer(image, float(r), aperture)
    return out
