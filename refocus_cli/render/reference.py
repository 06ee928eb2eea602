"""Exact reference renderer for layered scenes: the average of pinhole views over the aperture.

For each point a of the aperture (unit coordinates), every layer is shifted by a * K * (d - d_focus) pixels
and the layers are composited front to back in linear light; the image is the weighted mean of those views.
This is the thin-lens image of a scene of fronto-parallel planes, partial occlusion included, up to the
sampling of the aperture; it is the ground truth for tests and benchmarks, not a production path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.aperture import ApertureShape, sample_aperture
from refocus_cli.render.scenes import LayeredScene


@dataclass(frozen=True)
class _PaddedLayer:
    """A layer's premultiplied colour and alpha [4,H+2P,W+2P], edges extended by P, and the output region
    (top, bottom, left, right) its shifted copies can reach: its support grown by its largest shift."""

    padded: torch.Tensor
    pad: int
    region: tuple[int, int, int, int]


def _padded_layer(premultiplied: torch.Tensor, alpha: torch.Tensor, reach_px: float) -> _PaddedLayer:
    """Pad a layer for shifts up to `reach_px` and find the region they can touch (empty for an empty layer)."""
    h, w = alpha.shape[-2:]
    pad = math.ceil(reach_px) + 2
    stack = torch.cat((premultiplied, alpha), dim=1)
    padded = F.pad(stack, (pad, pad, pad, pad), mode="replicate")[0]
    rows = torch.nonzero(alpha[0, 0].amax(dim=1) > 0).flatten()
    cols = torch.nonzero(alpha[0, 0].amax(dim=0) > 0).flatten()
    if rows.numel() == 0:
        return _PaddedLayer(padded, pad, (0, 0, 0, 0))
    grow = math.ceil(reach_px) + 1
    region = (
        max(0, int(rows[0]) - grow),
        min(h, int(rows[-1]) + 1 + grow),
        max(0, int(cols[0]) - grow),
        min(w, int(cols[-1]) + 1 + grow),
    )
    return _PaddedLayer(padded, pad, region)


def _shifted_region(layer: _PaddedLayer, shift_x: float, shift_y: float) -> torch.Tensor:
    """The layer moved by (shift_x, shift_y) pixels (x right, y down), bilinear, edges extended, over its
    region only: [4, bottom - top, right - left].

    Output pixel (x, y) reads the layer at (x - shift_x, y - shift_y): an integer offset taken by slicing the
    padded layer and a fractional part by blending four slices (what grid_sample's bilinear does, faster).
    """
    top, bottom, left, right = layer.region
    h, w = bottom - top, right - left
    y0, x0 = math.floor(-shift_y), math.floor(-shift_x)
    fy, fx = -shift_y - y0, -shift_x - x0
    r, c = top + y0 + layer.pad, left + x0 + layer.pad
    window = layer.padded[:, r : r + h + 1, c : c + w + 1]
    upper = torch.lerp(window[:, :h, :w], window[:, :h, 1:], fx)
    lower = torch.lerp(window[:, 1:, :w], window[:, 1:, 1:], fx)
    return torch.lerp(upper, lower, fy)


def aperture_samples_for(max_coc_radius_px: float) -> int:
    """Aperture points enough that neighbouring views of the most blurred layer are under 0.5 px apart."""
    return max(16, math.ceil(math.pi * (2.0 * max_coc_radius_px) ** 2))


def render_reference(
    scene: LayeredScene,
    focus_disparity: float,
    blur_k_px: float,
    *,
    aperture: ApertureShape | None = None,
    samples: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Thin-lens image of a layered scene focused at `focus_disparity` with blur K (linear light).

    Args:
        scene: layers nearest first, the last opaque.
        focus_disparity: d_focus in [0, 1].
        blur_k_px: K, CoC radius in pixels per unit disparity.
        aperture: the opening (disc when None).
        samples: aperture points; by default enough for sub-pixel spacing of the largest shift.
        generator: seeds the stratified jitter of the aperture points.

    Returns:
        [1,3,H,W] linear light.
    """
    radii = [blur_k_px * (layer.disparity - focus_disparity) for layer in scene.layers]
    count = samples or aperture_samples_for(max(abs(r) for r in radii))
    points, weights = sample_aperture(count, aperture, generator=generator)
    h, w = scene.size_hw
    # A layer's blur is the aperture image scaled by its signed radius: a point spreads to x + r * a.
    layers = [
        _padded_layer(layer.premultiplied, layer.alpha, abs(r)) for layer, r in zip(scene.layers, radii, strict=True)
    ]
    image = torch.zeros(3, h, w)
    for (u, v), weight in zip(points.tolist(), weights.tolist(), strict=True):
        colour = torch.zeros(3, h, w)
        transmittance = torch.ones(1, h, w)
        for layer, radius in zip(layers, radii, strict=True):
            top, bottom, left, right = layer.region
            if bottom <= top or right <= left:
                continue
            view = _shifted_region(layer, u * radius, v * radius)
            seen = transmittance[:, top:bottom, left:right]
            colour[:, top:bottom, left:right].addcmul_(seen, view[:3])
            seen.addcmul_(seen, view[3:], value=-1.0)  # light through the layer's holes only
        image += weight * colour
    return image.unsqueeze(0)
