"""The fast occlusion-aware bokeh renderer: depth planes, blurred colour and coverage, front to back.

The signed CoC map is cut into planes a fraction of a pixel of radius apart.  Each pixel belongs to one
plane (so a surface is never composited over itself), and its exact radius is kept by sharing it between
the kernels of the two planes around it (so the blur follows depth smoothly and nothing bands).  Each plane
becomes an RGBA layer holding

* its own pixels, and
* a guess of what the nearer planes hide of it (pull-push filled colour and coverage from the plane's
  visible surroundings), so a blurred foreground reveals plausible background rather than a dark fringe.

Each layer is blurred by the aperture kernel of its radius (large radii at a reduced resolution, with the
kernel shrunk so the total spread stays right), and the layers are composited front to back in linear light:
a sharp foreground hides the blurred background behind it without a halo, and a blurred foreground spreads
over a sharp background (partial occlusion).  All plain torch ops: differentiable, and the same code on CPU
and CUDA.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from refocus_cli.aperture import ApertureShape
from refocus_cli.render.blocks import BLOCK, FILL_SCALE, BlockRanges, Blocks, block_halo
from refocus_cli.render.coarse import CoarseRun, PooledPlanes, pool_planes
from refocus_cli.render.convolve import blur_layer, blur_layer_mixed
from refocus_cli.render.planes import (
    LayeredSettings,
    PlanePlan,
    mean_offsets,
    plan_planes,
    plane_index,
    reduced_kernel_radius,
)
from refocus_cli.render.pushpull import push_pull_fill
from refocus_cli.render.tiles import round_up, tile_windows


def render_layered(
    image: torch.Tensor,
    coc_px: torch.Tensor,
    aperture: ApertureShape | None = None,
    settings: LayeredSettings | None = None,
    *,
    tile_px: int = 2048,
) -> torch.Tensor:
    """Render lens blur for an all-in-focus image and its signed CoC map.

    Large images are rendered in tiles of about `tile_px` with halos that cover every plane's reach, so
    memory stays bounded and the result equals the whole-image render.

    Args:
        image: [N,3,H,W] linear light.
        coc_px: [N,1,H,W] signed CoC radius in pixels (positive = nearer than focus); order follows it.
        aperture: the opening (disc when None).
        settings: quality knobs.
        tile_px: core size of a tile.

    Returns:
        [N,3,H,W] linear light.

    >>> render_layered(torch.ones(1, 3, 8, 8), torch.full((1, 1, 8, 8), 2.0)).shape
    torch.Size([1, 3, 8, 8])
    """
    aperture = aperture or ApertureShape()
    settings = settings or LayeredSettings()
    plans = plan_planes(float(coc_px.detach().min()), float(coc_px.detach().max()), settings)
    if len(plans) == 1 and plans[0].radius_px == 0:
        return image
    index = plane_index(coc_px, [plan.radius_px for plan in plans])
    offsets = mean_offsets(index, len(plans))  # over the whole image, so tiles agree
    h, w = image.shape[-2:]
    if h <= tile_px and w <= tile_px:
        return render_window(image, index, plans, offsets, aperture, settings.fill_hidden)
    align = max(plan.fill_span_px for plan in plans)
    halo = max(plan.reach_px for plan in plans)
    out = torch.empty_like(image)
    for window in tile_windows(h, w, tile_px=tile_px, halo_px=halo, align=align):
        rows, cols = slice(window.read_top, window.read_bottom), slice(window.read_left, window.read_right)
        rendered = render_window(
            image[..., rows, cols], index[..., rows, cols], plans, offsets, aperture, settings.fill_hidden
        )
        core_rows, core_cols = window.core_in_read
        out[..., window.core_top : window.core_bottom, window.core_left : window.core_right] = rendered[
            ..., core_rows, core_cols
        ]
    return out


def render_window(
    image: torch.Tensor,
    index: torch.Tensor,
    plans: list[PlanePlan],
    offsets: list[float],
    aperture: ApertureShape,
    fill: bool,
) -> torch.Tensor:
    """Render one window (a tile and its halo) of an image: planes front to back in linear light.

    `index` [N,1,H,W] is `plane_index` of the window's CoC; `plans` and `offsets` are the whole image's, so
    windows rendered apart agree where they overlap.

    Full-resolution planes are rendered in the blocks near their own pixels only.  Planes blurred at a
    reduced resolution f get their pooled colour, coverage and unhidden fraction from one scatter over all
    pixels per f (not one pass per plane); consecutive reduced planes are composited on their own grids and
    brought to full resolution once for each stretch between full-resolution planes.
    """
    h, w = image.shape[-2:]
    # Extend the edges by the widest blur first, so coarse grids see the edge pixels, not cell averages.
    grid = max(max(plan.scale for plan in plans), FILL_SCALE, BLOCK)
    margin = round_up(math.ceil(max(max(abs(p.radius_px), abs(p.next_radius_px)) for p in plans)) + 2, grid)
    pad_h, pad_w = (-h) % grid, (-w) % grid
    image = F.pad(image, (margin, margin + pad_w, margin, margin + pad_h), mode="replicate")
    index = F.pad(index, (margin, margin + pad_w, margin, margin + pad_h), mode="replicate")
    plane = torch.floor(index.detach()).clamp(max=len(plans) - 1).long()
    pooled = {
        f: pool_planes(image, plane, _pooled_members(plans, f), f, plane_count=len(plans))
        for f in _pooled_scales(plans)
    }
    blocks = BlockRanges.of(plane.float())
    gather_pad = max([block_halo(p) for p in plans if p.scale == 1], default=0)
    padded_colour_index = F.pad(torch.cat((image, index), dim=1), [gather_pad] * 4, mode="replicate")
    present = torch.bincount(plane.flatten(), minlength=len(plans)).tolist()

    colour = torch.zeros_like(image)
    transmittance = torch.ones_like(index)
    runs: list[CoarseRun] = []  # consecutive reduced planes, one run per resolution, not yet at full resolution
    for i, plan in enumerate(plans):
        if runs and plan.scale == 1 and present[i]:
            colour, transmittance = CoarseRun.composite_onto(runs, colour, transmittance)
            runs = []
        if not present[i]:
            continue  # no pixel on this plane: nothing visible, nothing to fill
        if plan.scale > 1:
            content, unhidden = pooled[plan.scale].plane(i)
            if fill and i > 0:
                content = content + _hidden_part(content, unhidden, plan.fill_levels)
            radius = reduced_kernel_radius(plan.radius_at(offsets[i]), plan.scale)
            if not runs or runs[-1].scale != plan.scale:
                runs.append(CoarseRun.empty(plan.scale, content))
            runs[-1].add(_normalised(blur_layer(content, radius, aperture)))
            continue
        where = blocks.active(i, plan, nearer_max_px=max(abs(p.radius_px) for p in plans[: i + 1]))
        hidden = where.gather_upsampled(_hidden_guess(pooled[FILL_SCALE], i, plan)) if fill and i > 0 else None
        layer = _normalised(_blurred_full_plane(padded_colour_index, gather_pad, hidden, where, i, plan, aperture))
        behind = where.gather(transmittance)  # a copy: the in-place update below keeps it intact
        where.scatter_(colour, where.gather(colour) + behind * layer[:, :3])
        where.scatter_(transmittance, behind * (1.0 - layer[:, 3:4]))
    if runs:
        colour, transmittance = CoarseRun.composite_onto(runs, colour, transmittance)
    colour = colour / (1.0 - transmittance).clamp_min(1e-6)
    return colour[..., margin : margin + h, margin : margin + w]


def _pooled_scales(plans: list[PlanePlan]) -> set[int]:
    """Reduced resolutions that need pooled planes: those planes are blurred at, and the fill grid."""
    return {p.scale for p in plans if p.scale > 1} | {FILL_SCALE}


def _pooled_members(plans: list[PlanePlan], scale: int) -> list[int]:
    """Planes pooled at a scale: those blurred there, and on the fill grid also the full-resolution ones."""
    wanted = {scale, 1} if scale == FILL_SCALE else {scale}
    return [i for i, plan in enumerate(plans) if plan.scale in wanted]


def _normalised(layer: torch.Tensor) -> torch.Tensor:
    """Kernels sharing a plane can stack coverage a little over 1: scale such pixels back, colour too."""
    return layer / layer[:, 3:4].clamp_min(1.0)


def _blurred_full_plane(
    colour_index: torch.Tensor,
    padded_by: int,
    hidden: torch.Tensor | None,
    where: Blocks,
    i: int,
    plan: PlanePlan,
    aperture: ApertureShape,
) -> torch.Tensor:
    """Premultiplied RGBA [K,4,B,B] of full-resolution plane i over its active blocks, hidden part filled.

    `colour_index` [N,4,H,W] holds the image's colour and its fractional plane index, padded by `padded_by`
    pixels on every side.

    Plane i holds the pixels whose fractional index lies in [i, i+1), radii between its own and the next
    farther plane's.  Each pixel is shared between the two planes' kernels linearly in the index, so the
    blur follows depth exactly at the planes and smoothly between them.  Where nearer planes hide this one,
    it is continued by `hidden`, the pull-push guess from its visible surroundings.
    """
    gathered = where.gather(colour_index, halo=where.halo, padded_by=padded_by)  # [K,4,S,S], a copy
    offset = gathered[:, 3:4] - i
    inside = (offset >= 0) & ((offset < 1) | (plan.next_radius_px == plan.radius_px))
    to_next = torch.where(inside, offset.clamp(max=1.0), 0.0)  # each pixel's share of the farther kernel
    shares = torch.cat((inside.to(offset.dtype) - to_next, to_next), dim=1)  # [K,2,S,S]: own, next kernel
    gathered[:, 3:4] = 1.0  # straight colour and full coverage
    parts = (shares[:, :, None] * gathered[:, None]).flatten(1, 2)  # [K,8,S,S]
    if hidden is not None:
        parts[:, :4] += hidden.mul_(offset < 0)
    blurred = blur_layer_mixed(parts, [plan.radius_px, plan.next_radius_px], aperture, valid_only=True)
    start = (blurred.shape[-1] - BLOCK) // 2  # the conv kept only pixels whose whole kernel was inside
    core = slice(start, start + BLOCK)
    return blurred[:, :4, core, core] + blurred[:, 4:, core, core]


def _hidden_guess(pooled: PooledPlanes, i: int, plan: PlanePlan) -> torch.Tensor:
    """Straight-colour pull-push guess [N,4,H/s,W/s] of plane i under nearer planes, on the coarse grid of
    `pooled` (the caller brings it to full resolution and masks it to the hidden pixels)."""
    content, unhidden = pooled.plane(i)
    return _fill_from_surroundings(content, unhidden, max(1, plan.fill_levels - int(math.log2(FILL_SCALE))))


def _hidden_part(content: torch.Tensor, unhidden: torch.Tensor, levels: int) -> torch.Tensor:
    """Premultiplied RGBA for the part of the plane that nearer planes cover: pull-push of its surroundings."""
    return (1.0 - unhidden) * _fill_from_surroundings(content, unhidden, levels)


def _fill_from_surroundings(content: torch.Tensor, unhidden: torch.Tensor, levels: int) -> torch.Tensor:
    """Straight RGBA [N,4,h,w] everywhere: the plane as seen where unhidden, pull-push guesses elsewhere."""
    return push_pull_fill(content / unhidden.clamp_min(1e-6), unhidden, levels=levels)
