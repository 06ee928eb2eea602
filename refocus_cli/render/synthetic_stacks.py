"""Synthetic captured focal stacks with exact truth: a random layered scene rendered by the reference renderer
at several focus planes, each frame then magnified, shifted and exposed a little differently, as a real
capture's focus breathing, drift and exposure flicker do.

The middle frame has the identity geometry and unit exposure, so the truth (the pinhole image and the
disparity) is in its pixel grid.

A camera's lens passes no detail finer than about a pixel and its sensor integrates the optical image over
each pixel; to model that, the scene is made at `supersample` times the frame size, rendered there, softened
by a Gaussian of half a frame pixel (the lens's resolution), warped, and area-averaged down to the frame size
(the truth too, without the warp). Without it, texture at the pixel grid's Nyquist limit would be an artefact of the
simulation that no resampling, in alignment or in a real camera, preserves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.filters import gaussian_blur
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import LayeredScene

OPTICS_SIGMA_PX = 0.5
"""The lens's blur at best focus, a Gaussian sigma in frame pixels."""


@dataclass(frozen=True)
class SyntheticStack:
    """Frames [F,3,H,W] linear light (nearest focus first), their focus disparities, and the truth."""

    frames: torch.Tensor
    focus_disparities: list[float]
    all_in_focus: torch.Tensor  # [1,3,H,W]
    disparity: torch.Tensor  # [1,1,H,W]
    scales: list[float]
    shifts_xy: list[tuple[float, float]]
    gains: list[float]


def similarity_warp(image: torch.Tensor, scale: float, shift_xy: tuple[float, float]) -> torch.Tensor:
    """[N,C,H,W] magnified by `scale` about the centre, then moved by `shift_xy` pixels; edges extended.

    Output pixel p shows input point centre + (p - centre - shift) / scale (bicubic).
    """
    n, _, h, w = image.shape
    ys = torch.arange(h, dtype=image.dtype, device=image.device)
    xs = torch.arange(w, dtype=image.dtype, device=image.device)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    src_x = cx + (xs - cx - shift_xy[0]) / scale
    src_y = cy + (ys - cy - shift_xy[1]) / scale
    grid_x = ((2 * src_x + 1) / w - 1).view(1, w).expand(h, w)
    grid_y = ((2 * src_y + 1) / h - 1).view(h, 1).expand(h, w)
    grid = torch.stack((grid_x, grid_y), dim=-1).unsqueeze(0).expand(n, h, w, 2)
    return F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=False).clamp_min(0)


def synthetic_focal_stack(
    scene: LayeredScene,
    blur_k_px: float,
    *,
    generator: torch.Generator,
    max_scale_step: float = 0.004,
    breathing: tuple[float, float] | None = None,
    max_shift_px: float = 1.5,
    max_gain_change: float = 0.06,
    supersample: int = 2,
    samples: int | None = None,
) -> SyntheticStack:
    """Render one frame focused on each layer of the scene, nearest first, and disturb each frame.

    Magnification grows by up to `max_scale_step` per frame away from the middle one (focus breathing), or,
    with `breathing` = (low, high), by a total drawn in that range from the first frame to the last; shifts are
    random up to `max_shift_px`, exposure gains random within 1 +- `max_gain_change`. The scene is at
    `supersample` times the frame size; `blur_k_px` and shifts are in frame pixels. `samples` caps the
    reference renderer's aperture samples (fewer is faster and leaves noise only in the blurred parts).
    """
    ss = supersample
    focus = sorted((layer.disparity for layer in scene.layers), reverse=True)
    middle = len(focus) // 2
    if breathing is None:
        step = max_scale_step * float(torch.rand((), generator=generator) * 0.5 + 0.5)
    else:
        total = breathing[0] + (breathing[1] - breathing[0]) * float(torch.rand((), generator=generator))
        step = total / max(1, len(focus) - 1)
    scales, shifts, gains, rendered = [], [], [], []
    for i, d in enumerate(focus):
        scale = 1.0 + step * (middle - i)
        shift = (
            (0.0, 0.0) if i == middle else tuple(((torch.rand(2, generator=generator) * 2 - 1) * max_shift_px).tolist())
        )
        gain = 1.0 if i == middle else 1.0 + float((torch.rand((), generator=generator) * 2 - 1) * max_gain_change)
        image = render_reference(scene, d, blur_k_px * ss, generator=generator, samples=samples)
        warped = similarity_warp(gaussian_blur(image, OPTICS_SIGMA_PX * ss), scale, (shift[0] * ss, shift[1] * ss))
        rendered.append(F.avg_pool2d(warped, ss) * gain)
        scales.append(scale)
        shifts.append(shift)
        gains.append(gain)
    return SyntheticStack(
        frames=torch.cat(rendered),
        focus_disparities=focus,
        all_in_focus=F.avg_pool2d(gaussian_blur(scene.pinhole_image(), OPTICS_SIGMA_PX * ss), ss),
        disparity=F.avg_pool2d(scene.disparity_map(), ss),
        scales=scales,
        shifts_xy=shifts,
        gains=gains,
    )


def depth_edge_band(disparity: torch.Tensor, blur_k_px: float, radius_px: int) -> torch.Tensor:
    """[1,1,H,W] bool: pixels within `radius_px` of a depth edge, a jump in `disparity` [1,1,H,W] that changes
    the blur by at least a pixel (K * |delta d| >= 1): a band 2 * radius_px wide along each edge.

    >>> d = torch.zeros(1, 1, 1, 12); d[..., 6:] = 0.5
    >>> depth_edge_band(d, 4.0, 2)[0, 0, 0].int().tolist()
    [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    """
    size = 2 * radius_px + 1  # a pixel centre within radius_px of the edge between two pixels sees both
    padded = F.pad(disparity, (radius_px,) * 4, mode="replicate")
    spread = F.max_pool2d(padded, size, 1) + F.max_pool2d(-padded, size, 1)
    return spread * blur_k_px >= 1.0


def depth_order_accuracy(
    disparity: torch.Tensor,
    stack: SyntheticStack,
    blur_k_px: float,
    *,
    edge_px: int = 4,
    border_px: int = 8,
    near_edges: bool = False,
) -> float:
    """Share of pixels at least `edge_px` from a depth discontinuity (or, with `near_edges`, within `edge_px`
    of a depth edge that changes the blur by a pixel or more) and `border_px` from the frame's edge whose
    depth from focus, rounded to a frame, is the frame focused on their layer.

    `disparity` is depth from focus [1,1,H,W] (frame 0 = 1, the last frame = 0). Frames focused on planes less
    than one pixel of blur apart (K * |d_i - d_j| < 1) cannot be told apart by focus and count as one frame.
    Pixels whose truth is a mix of layers (the area-averaged edges of the truth) count by their nearest frame.
    """
    focus = stack.focus_disparities
    count = len(focus)
    group = list(range(count))
    for i in range(1, count):
        if blur_k_px * abs(focus[i] - focus[i - 1]) < 1.0:
            group[i] = group[i - 1]
    groups = torch.tensor(group, dtype=torch.float32)
    estimated = groups[((1.0 - disparity) * (count - 1)).round().long().clamp(0, count - 1)]
    nearest = (stack.disparity - torch.tensor(focus).view(-1, 1, 1, 1)).abs().argmin(dim=0, keepdim=True)[0]
    true = groups[nearest]
    inner = (slice(None), slice(None), slice(border_px, -border_px), slice(border_px, -border_px))
    if near_edges:
        chosen = depth_edge_band(stack.disparity, blur_k_px, edge_px)[inner]
    else:
        spread = F.max_pool2d(stack.disparity, 2 * edge_px + 1, 1, edge_px) + F.max_pool2d(
            -stack.disparity, 2 * edge_px + 1, 1, edge_px
        )
        chosen = (spread < 1e-6)[inner]
    return float((estimated == true)[inner][chosen].float().mean())
