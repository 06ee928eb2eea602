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
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.aperture import ApertureShape, aperture_kernel, kernel_radius_px
from refocus_cli.render.pushpull import push_pull_fill
from refocus_cli.render.tiles import round_up, tile_windows


@dataclass(frozen=True)
class LayeredSettings:
    """Quality and speed knobs of the layered renderer.

    Attributes:
        plane_step_px: largest CoC-radius gap between neighbouring planes, pixels (near focus).
        plane_step_ratio: relative gap allowed at large radii (the gap is max(step, ratio * |r|)).
        reduced_radius_px: a plane of radius r is blurred at 1/f resolution, f the largest power of two
            with r / f >= this (1 = always full resolution when larger than any radius).
        fill_hidden: fill what nearer planes hide with pull-push colour (hidden-surface filling).
        max_scale: largest resolution reduction f.
    """

    plane_step_px: float = 0.5
    plane_step_ratio: float = 0.1
    reduced_radius_px: float = 2
    fill_hidden: bool = True
    max_scale: int = 16


def plane_radii(coc_min_px: float, coc_max_px: float, settings: LayeredSettings) -> list[float]:
    """Signed radii of the planes covering [coc_min, coc_max], nearest (largest) first, 0 included.

    >>> plane_radii(-2.0, 3.0, LayeredSettings())
    [3.0, 2.0, 1.0, 0.0, -1.0, -2.0]
    """

    def side(limit: float) -> list[float]:
        radii = [0.0]
        while radii[-1] < limit - 1e-6:
            radii.append(radii[-1] + max(settings.plane_step_px, settings.plane_step_ratio * radii[-1]))
        radii[-1] = limit if len(radii) > 1 else radii[-1]
        return radii

    near = side(max(coc_max_px, 0.0))
    far = side(max(-coc_min_px, 0.0))
    return [r for r in reversed(near)] + [-r for r in far[1:]]


def plane_index(coc_px: torch.Tensor, radii: list[float]) -> torch.Tensor:
    """Fractional plane index of every pixel: piecewise linear in the CoC, 0 = nearest plane.

    Args:
        coc_px: [N,1,H,W] signed CoC radius.
        radii: plane radii, strictly decreasing.

    Returns:
        [N,1,H,W] index in [0, len(radii) - 1].
    """
    if len(radii) == 1:
        return torch.zeros_like(coc_px)
    ascending = torch.tensor(radii[::-1], dtype=coc_px.dtype, device=coc_px.device)
    clamped = coc_px.clamp(float(ascending[0]), float(ascending[-1]))
    upper = torch.searchsorted(ascending, clamped.contiguous(), right=False).clamp(1, len(radii) - 1)
    low_r, high_r = ascending[upper - 1], ascending[upper]
    ascending_index = (upper - 1) + (clamped - low_r) / (high_r - low_r)
    return (len(radii) - 1) - ascending_index


def reduction_for(radius_px: float, settings: LayeredSettings) -> int:
    """Power-of-two resolution reduction f for blurring a plane of this radius."""
    if abs(radius_px) < 2 * settings.reduced_radius_px:
        return 1
    f = 2 ** math.floor(math.log2(abs(radius_px) / settings.reduced_radius_px))
    return int(min(f, settings.max_scale))


def reduced_kernel_radius(radius_px: float, scale: int) -> float:
    """Kernel radius at 1/scale resolution whose blur, with the area down- and bilinear up-sampling around it,
    spreads as far as the radius-r kernel at full resolution (matched second moments: a disc of radius R has
    variance R^2/4 per axis, the kernel's bilinear footprint adds 1/6 px^2 at its own resolution, box pooling
    f^2/12 and bilinear upsampling f^2/6)."""
    if scale == 1:
        return radius_px
    variance = radius_px**2 / 4 + 1 / 6 - 5 * scale**2 / 12
    reduced = math.sqrt(max(variance, 0.0) * 4) / scale
    return math.copysign(reduced, radius_px)


_CONV_ROWS = 128  # convolution in row bands: 2-4x faster on CPU than one large call (cache)


def blur_layer(stack: torch.Tensor, radius_px: float, aperture: ApertureShape) -> torch.Tensor:
    """Convolve every channel of [N,C,H,W] with the aperture kernel of this signed radius (zeros outside)."""
    return blur_layer_mixed(stack, [radius_px], aperture)


def _kernel_stack(radii_px: list[float], aperture: ApertureShape, like: torch.Tensor) -> torch.Tensor:
    """[len(radii), 2R+1, 2R+1] kernels, the smaller ones zero-padded to the largest."""
    kernels = [aperture_kernel(r, aperture, device=like.device, dtype=like.dtype) for r in radii_px]
    half = max(k.shape[-1] // 2 for k in kernels)
    return torch.stack([F.pad(k, [half - k.shape[-1] // 2] * 4) for k in kernels])


def blur_layer_mixed(stack: torch.Tensor, radii_px: list[float], aperture: ApertureShape) -> torch.Tensor:
    """Convolve channel group g of [N,G*C,H,W] with the kernel of radii_px[g]; outside the image is zero.

    Zeros outside lose coverage at the border; the renderer divides it back out at the end, which makes
    the border a normalised convolution of what is inside.

    Returns:
        [N,G*C,H,W]; each group's channels blurred by its own kernel.
    """
    half = max(kernel_radius_px(r) for r in radii_px)
    if half == 0:
        return stack
    n, channels, h, w = stack.shape
    per_group = channels // len(radii_px)
    # conv2d correlates; flipping the kernels makes it a convolution (matters for odd polygons).
    kernels = _kernel_stack(radii_px, aperture, stack).flip(-2, -1)
    weight = kernels.repeat_interleave(per_group, dim=0).repeat(n, 1, 1).unsqueeze(1)
    flat = stack.reshape(1, n * channels, h, w)
    bands = []
    for top in range(0, h, _CONV_ROWS):
        bottom = min(h, top + _CONV_ROWS)
        read_top, read_bottom = max(0, top - half), min(h, bottom + half)
        pad_top, pad_bottom = half - (top - read_top), half - (read_bottom - bottom)
        band = F.pad(flat[..., read_top:read_bottom, :], (half, half, pad_top, pad_bottom))
        bands.append(F.conv2d(band, weight, groups=n * channels))
    return torch.cat(bands, dim=-2).reshape(n, channels, h, w)


@dataclass(frozen=True)
class PlanePlan:
    """How one plane is rendered: its radius, the kernels it shares its pixels between, its resolution
    reduction and its hole-filling pyramid depth."""

    radius_px: float
    next_radius_px: float  # the farther neighbour's radius: a plane holds radii in [next, own]
    scale: int
    fill_levels: int

    @property
    def reach_px(self) -> int:
        """Full-resolution distance over which input can affect an output pixel through this plane."""
        widest = max(abs(self.radius_px), abs(self.next_radius_px))
        return math.ceil(widest) + 2 + 2 * self.scale * 2**self.fill_levels

    @property
    def single_kernel_radius_px(self) -> float:
        """The one kernel used at reduced resolution: the middle of the plane's interval."""
        return 0.5 * (self.radius_px + self.next_radius_px)


def plan_planes(coc_min_px: float, coc_max_px: float, settings: LayeredSettings) -> list[PlanePlan]:
    """Planes nearest first.  A plane's hidden part is seen at most (the largest nearer radius + its own
    radius) from a nearer plane's edge, so its pull-push pyramid needs only enough levels to reach that far."""
    radii = plane_radii(coc_min_px, coc_max_px, settings)
    plans = []
    nearer_max = 0.0
    for i, radius in enumerate(radii):
        following = radii[i + 1] if i + 1 < len(radii) else radius
        scale = reduction_for(0.5 * (radius + following), settings)
        reach = (nearer_max + abs(radius)) / scale + 1.0
        levels = max(1, math.ceil(math.log2(reach)) + 1)
        plans.append(PlanePlan(radius, following, scale, levels))
        nearer_max = max(nearer_max, abs(radius))
    return plans


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
    h, w = image.shape[-2:]
    if h <= tile_px and w <= tile_px:
        return _render_window(image, index, plans, aperture, settings.fill_hidden)
    align = max(plan.scale * 2**plan.fill_levels for plan in plans)
    halo = max(plan.reach_px for plan in plans)
    out = torch.empty_like(image)
    for window in tile_windows(h, w, tile_px=tile_px, halo_px=halo, align=align):
        rows, cols = slice(window.read_top, window.read_bottom), slice(window.read_left, window.read_right)
        rendered = _render_window(
            image[..., rows, cols], index[..., rows, cols], plans, aperture, settings.fill_hidden
        )
        core_rows, core_cols = window.core_in_read
        out[..., window.core_top : window.core_bottom, window.core_left : window.core_right] = rendered[
            ..., core_rows, core_cols
        ]
    return out


def _render_window(
    image: torch.Tensor, index: torch.Tensor, plans: list[PlanePlan], aperture: ApertureShape, fill: bool
) -> torch.Tensor:
    """Render one window: planes front to back, each blurred at its scale over the box it can reach,
    composited in linear light."""
    h, w = image.shape[-2:]
    max_scale = max(plan.scale for plan in plans)
    pad_h, pad_w = (-h) % max_scale, (-w) % max_scale
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
        index = F.pad(index, (0, pad_w, 0, pad_h), mode="replicate")
    colour = torch.zeros_like(image)
    transmittance = torch.ones_like(index)
    plane = torch.floor(index.detach()).clamp(max=len(plans) - 1)
    row_range = (plane.amin(dim=(0, 1, 3)), plane.amax(dim=(0, 1, 3)))
    col_range = (plane.amin(dim=(0, 1, 2)), plane.amax(dim=(0, 1, 2)))
    for i, plan in enumerate(plans):
        rows = _reach_of_plane(row_range, i, plan)
        cols = _reach_of_plane(col_range, i, plan)
        if rows is None or cols is None:
            continue  # no pixel on this plane: nothing visible, nothing to fill
        layer = _blurred_plane(image[..., rows, cols], index[..., rows, cols], i, plan, aperture, fill and i > 0)
        # Two kernels sharing a plane can stack coverage a little over 1: scale such pixels back, colour too.
        layer = layer / layer[:, 3:4].clamp_min(1.0)
        behind = transmittance[..., rows, cols].clone()  # the product below saves it for backward
        colour[..., rows, cols] += behind * layer[:, :3]
        transmittance[..., rows, cols] = behind * (1.0 - layer[:, 3:4])
    colour = colour / (1.0 - transmittance).clamp_min(1e-6)
    return colour[..., :h, :w]


def _reach_of_plane(ranges: tuple[torch.Tensor, torch.Tensor], i: int, plan: PlanePlan) -> slice | None:
    """Rows (or columns) plane i can touch: those holding any of its pixels (judged from each line's range of
    planes, a superset), widened by the plane's reach and aligned to its pyramid grid; None if there are none."""
    lowest, highest = ranges
    hit = torch.nonzero((lowest <= i) & (highest >= i)).flatten()
    if hit.numel() == 0:
        return None
    align = plan.scale * 2**plan.fill_levels
    start = max(0, (int(hit[0]) - plan.reach_px) // align * align)
    stop = min(lowest.numel(), round_up(int(hit[-1]) + 1 + plan.reach_px, align))
    return slice(start, stop)


def _blurred_plane(
    image: torch.Tensor, index: torch.Tensor, i: int, plan: PlanePlan, aperture: ApertureShape, fill: bool
) -> torch.Tensor:
    """Premultiplied RGBA [N,4,H,W] of plane i, hidden part filled, blurred (and back at full resolution).

    Plane i holds the pixels whose fractional index lies in [i, i+1), radii between its own and the next
    farther plane's.  At full resolution each pixel is shared between the two planes' kernels linearly in
    the index, so the blur follows depth exactly at the planes and smoothly between them.  Planes blurred at
    reduced resolution use one kernel: there neighbouring radii differ by a few percent.  Where nearer planes
    hide this one, it is continued by pull-push from its visible surroundings.
    """
    offset = index - i
    inside = ((offset >= 0) & ((offset < 1) | (plan.next_radius_px == plan.radius_px))).to(image.dtype)
    unhidden = (offset >= 0).to(image.dtype)
    content = torch.cat((inside * image, inside), dim=1)
    if plan.scale == 1:
        toward_next = offset.clamp(0.0, 1.0) * inside
        shared = toward_next * content
        parts = torch.cat((content - shared, shared), dim=1)
        if fill:
            parts[:, :4] += _hidden_part(content, unhidden, plan.fill_levels)
        blurred = blur_layer_mixed(parts, [plan.radius_px, plan.next_radius_px], aperture)
        return blurred[:, :4] + blurred[:, 4:]
    stack = F.avg_pool2d(torch.cat((content, unhidden), dim=1), plan.scale)
    content, unhidden = stack[:, :4], stack[:, 4:5]
    if fill:
        content = content + _hidden_part(content, unhidden, plan.fill_levels)
    blurred = blur_layer(content, reduced_kernel_radius(plan.single_kernel_radius_px, plan.scale), aperture)
    return F.interpolate(blurred, scale_factor=plan.scale, mode="bilinear", align_corners=False)


def _hidden_part(content: torch.Tensor, unhidden: torch.Tensor, levels: int) -> torch.Tensor:
    """Premultiplied RGBA for the part of the plane that nearer planes cover: pull-push of its surroundings."""
    straight = content / unhidden.clamp_min(1e-6)
    return (1.0 - unhidden) * push_pull_fill(straight, unhidden, levels=levels)
