"""Exact reference renderer for layered scenes: the average of pinhole views over the aperture.

For each point a of the aperture (unit coordinates), every layer is shifted by a * K * (d - d_focus) pixels
and the layers are composited front to back in linear light; the image is the weighted mean of those views.
This is the thin-lens image of a scene of fronto-parallel planes, partial occlusion included, up to the
sampling of the aperture; it is the ground truth for tests and benchmarks, not a production path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from refocus_cli.aperture import ApertureShape, sample_aperture
from refocus_cli.render.scenes import LayeredScene


def _shifted(stack: torch.Tensor, shifts_xy: torch.Tensor) -> torch.Tensor:
    """Shift [1,C,H,W] by each of [P,2] pixel offsets (x right, y down), bilinear, edges extended -> [P,C,H,W]."""
    _, c, h, w = stack.shape
    p = shifts_xy.shape[0]
    ys = torch.arange(h, dtype=stack.dtype, device=stack.device)
    xs = torch.arange(w, dtype=stack.dtype, device=stack.device)
    # Output pixel (x, y) reads the layer at (x - sx, y - sy).
    src_x = xs.view(1, 1, w) - shifts_xy[:, 0].view(p, 1, 1)
    src_y = ys.view(1, h, 1) - shifts_xy[:, 1].view(p, 1, 1)
    grid_x = ((2 * src_x + 1) / w - 1).expand(p, h, w)
    grid_y = ((2 * src_y + 1) / h - 1).expand(p, h, w)
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(stack.expand(p, c, h, w), grid, mode="bilinear", padding_mode="border", align_corners=False)


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
    batch: int = 32,
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
    image = torch.zeros(1, 3, h, w)
    # A layer's blur is the aperture image scaled by its signed radius: a point spreads to x + r * a.
    stacks = [torch.cat((layer.premultiplied, layer.alpha), dim=1) for layer in scene.layers]
    for start in range(0, points.shape[0], batch):
        chunk, chunk_weights = points[start : start + batch], weights[start : start + batch]
        colour = torch.zeros(chunk.shape[0], 3, h, w)
        transmittance = torch.ones(chunk.shape[0], 1, h, w)
        for stack, radius in zip(stacks, radii, strict=True):
            view = _shifted(stack, chunk * radius) if radius != 0 else stack.expand(chunk.shape[0], -1, -1, -1)
            colour = colour + transmittance * view[:, :3]
            transmittance = transmittance * (1.0 - view[:, 3:])
        image += (colour * chunk_weights.view(-1, 1, 1, 1)).sum(dim=0, keepdim=True)
    return image
