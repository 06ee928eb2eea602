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
        plane_step_px: CoC-radius gap between neighbouring planes near focus, pixels.
        plane_step_ratio: relative gap allowed at large radii.  The gap at radius r is
            max(step, min(r / 4, 2 * step), ratio * r): fine where a pixel of radius matters most, then
            growing, then a fixed fraction of the radius.
        reduced_radius_px: a plane of radius r is blurred at 1/f resolution, f the largest power of two
            with r / f >= this (1 = always full resolution when larger than any radius).
        fill_hidden: fill what nearer planes hide with pull-push colour (hidden-surface filling).
        max_scale: largest resolution reduction f.
    """

    plane_step_px: float = 0.5
    plane_step_ratio: float = 0.1
    reduced_radius_px: float = 2.0
    fill_hidden: bool = True
    max_scale: int = 16


def plane_gap(radius_px: float, settings: LayeredSettings) -> float:
    """CoC-radius gap from a plane at this radius to the next one out (see LayeredSettings)."""
    step = settings.plane_step_px
    return max(step, min(radius_px / 4, 2 * step), settings.plane_step_ratio * radius_px)


def plane_radii(coc_min_px: float, coc_max_px: float, settings: LayeredSettings) -> list[float]:
    """Signed radii of the planes covering [coc_min, coc_max], nearest (largest) first, 0 included.

    >>> plane_radii(-2.0, 3.0, LayeredSettings())
    [3.0, 2.0, 1.0, 0.0, -1.0, -2.0]
    """

    def side(limit: float) -> list[float]:
        radii = [0.0]
        while radii[-1] < limit - 1e-6:
            radii.append(radii[-1] + plane_gap(radii[-1], settings))
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


_FILL_SCALE = 4  # full-resolution planes guess their hidden part on a 4x coarser grid: it is a smooth guess
_BLOCK = 16  # full-resolution planes are rendered block-sparse: only blocks near their own pixels
_CONV_ROWS = 128  # convolution in row bands: 2-4x faster on CPU than one large call (cache)


def blur_layer(stack: torch.Tensor, radius_px: float, aperture: ApertureShape) -> torch.Tensor:
    """Convolve every channel of [N,C,H,W] with the aperture kernel of this signed radius (edges extended)."""
    return blur_layer_mixed(stack, [radius_px], aperture)


def _kernel_stack(radii_px: list[float], aperture: ApertureShape, like: torch.Tensor) -> torch.Tensor:
    """[len(radii), 2R+1, 2R+1] kernels, the smaller ones zero-padded to the largest."""
    kernels = [aperture_kernel(r, aperture, device=like.device, dtype=like.dtype) for r in radii_px]
    half = max(k.shape[-1] // 2 for k in kernels)
    return torch.stack([F.pad(k, [half - k.shape[-1] // 2] * 4) for k in kernels])


def blur_layer_mixed(
    stack: torch.Tensor, radii_px: list[float], aperture: ApertureShape, *, valid_only: bool = False
) -> torch.Tensor:
    """Convolve channel group g of [N,G*C,H,W] with the kernel of radii_px[g], edges extended.

    Returns:
        [N,G*C,H,W]; each group's channels blurred by its own kernel.  With `valid_only`, only the pixels
        whose whole kernel lies inside: [N,G*C,H-2R,W-2R] (batched small blocks that carry their own halo).
    """
    half = max(kernel_radius_px(r) for r in radii_px)
    if half == 0:
        return stack
    n, channels, h, w = stack.shape
    per_group = channels // len(radii_px)
    # conv2d correlates; flipping the kernels makes it a convolution (matters for odd polygons).
    kernels = _kernel_stack(radii_px, aperture, stack).flip(-2, -1)
    if valid_only:
        weight = kernels.repeat_interleave(per_group, dim=0).unsqueeze(1)
        return F.conv2d(stack, weight, groups=channels)
    weight = kernels.repeat_interleave(per_group, dim=0).repeat(n, 1, 1).unsqueeze(1)
    padded = F.pad(stack.reshape(1, n * channels, h, w), (half, half, half, half), mode="replicate")
    bands = [
        F.conv2d(padded[..., top : top + min(_CONV_ROWS, h - top) + 2 * half, :], weight, groups=n * channels)
        for top in range(0, h, _CONV_ROWS)
    ]
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
        return math.ceil(widest) + 2 + (3 * self.scale * 2**self.fill_levels) // 2

    @property
    def single_kernel_radius_px(self) -> float:
        """The one kernel used at reduced resolution: the middle of the plane's interval."""
        return 0.5 * (self.radius_px + self.next_radius_px)


def plan_planes(coc_min_px: float, coc_max_px: float, settings: LayeredSettings) -> list[PlanePlan]:
    """Planes nearest first.  A plane's hidden part is seen at most the largest nearer radius inside a nearer
    plane's edge, so its pull-push pyramid needs only enough levels to reach that far."""
    radii = plane_radii(coc_min_px, coc_max_px, settings)
    plans = []
    nearer_max = 0.0
    for i, radius in enumerate(radii):
        following = radii[i + 1] if i + 1 < len(radii) else radius
        scale = reduction_for(0.5 * (radius + following), settings)
        reach = nearer_max / scale + 1.0  # how far into the hidden part the fill must be good, coarse px
        levels = max(1, math.ceil(math.log2(reach)))
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
        rendered = _render_window(image[..., rows, cols], index[..., rows, cols], plans, aperture, settings.fill_hidden)
        core_rows, core_cols = window.core_in_read
        out[..., window.core_top : window.core_bottom, window.core_left : window.core_right] = rendered[
            ..., core_rows, core_cols
        ]
    return out


def _render_window(
    image: torch.Tensor, index: torch.Tensor, plans: list[PlanePlan], aperture: ApertureShape, fill: bool
) -> torch.Tensor:
    """Render one window: planes front to back in linear light.

    Full-resolution planes are cut out of the window over the box they can reach.  Planes blurred at a
    reduced resolution f get their pooled colour, coverage and unhidden fraction from one scatter over all
    pixels per f (not one pass per plane); consecutive reduced planes are composited on their own grids and
    brought to full resolution once for each stretch between full-resolution planes.
    """
    h, w = image.shape[-2:]
    # Extend the edges by the widest blur first, so coarse grids see the edge pixels, not cell averages.
    grid = max(max(plan.scale for plan in plans), _FILL_SCALE, _BLOCK)
    margin = round_up(math.ceil(max(max(abs(p.radius_px), abs(p.next_radius_px)) for p in plans)) + 2, grid)
    pad_h, pad_w = (-h) % grid, (-w) % grid
    image = F.pad(image, (margin, margin + pad_w, margin, margin + pad_h), mode="replicate")
    index = F.pad(index, (margin, margin + pad_w, margin, margin + pad_h), mode="replicate")
    plane = torch.floor(index.detach()).clamp(max=len(plans) - 1).long()
    pooled = {f: _pool_planes(image, plane, _pooled_members(plans, f), f) for f in _pooled_scales(plans)}
    blocks = _BlockRanges.of(plane.float())
    gather_pad = max([_block_halo(p) for p in plans if p.scale == 1], default=0)
    padded_image = F.pad(image, [gather_pad] * 4, mode="replicate")
    padded_index = F.pad(index, [gather_pad] * 4, mode="replicate")
    present = torch.bincount(plane.flatten(), minlength=len(plans)).tolist()

    colour = torch.zeros_like(image)
    transmittance = torch.ones_like(index)
    runs: list[_Run] = []  # consecutive reduced planes, one run per resolution, not yet at full resolution
    for i, plan in enumerate(plans):
        if runs and plan.scale == 1 and present[i]:
            colour, transmittance = _Run.composite_onto(runs, colour, transmittance)
            runs = []
        if not present[i]:
            continue  # no pixel on this plane: nothing visible, nothing to fill
        if plan.scale > 1:
            content, unhidden = pooled[plan.scale].plane(i)
            if fill and i > 0:
                content = content + _hidden_part(content, unhidden, plan.fill_levels)
            radius = reduced_kernel_radius(plan.single_kernel_radius_px, plan.scale)
            if not runs or runs[-1].scale != plan.scale:
                runs.append(_Run.empty(plan.scale, content))
            runs[-1].add(_normalised(blur_layer(content, radius, aperture)))
            continue
        where = blocks.active(i, plan, nearer_max_px=max(abs(p.radius_px) for p in plans[: i + 1]))
        hidden = where.gather_upsampled(_hidden_guess(pooled[_FILL_SCALE], i, plan)) if fill and i > 0 else None
        layer = _normalised(
            _blurred_full_plane(padded_image, padded_index, gather_pad, hidden, where, i, plan, aperture)
        )
        behind = where.gather(transmittance)  # a copy: the in-place update below keeps it intact
        where.scatter_(colour, where.gather(colour) + behind * layer[:, :3])
        where.scatter_(transmittance, behind * (1.0 - layer[:, 3:4]))
    if runs:
        colour, transmittance = _Run.composite_onto(runs, colour, transmittance)
    colour = colour / (1.0 - transmittance).clamp_min(1e-6)
    return colour[..., margin : margin + h, margin : margin + w]


def _pooled_scales(plans: list[PlanePlan]) -> set[int]:
    """Reduced resolutions that need pooled planes: those planes are blurred at, and the fill grid."""
    return {p.scale for p in plans if p.scale > 1} | {_FILL_SCALE}


def _pooled_members(plans: list[PlanePlan], scale: int) -> list[int]:
    """Planes pooled at a scale: those blurred there, and on the fill grid also the full-resolution ones."""
    wanted = {scale, 1} if scale == _FILL_SCALE else {scale}
    return [i for i, plan in enumerate(plans) if plan.scale in wanted]


def _normalised(layer: torch.Tensor) -> torch.Tensor:
    """Kernels sharing a plane can stack coverage a little over 1: scale such pixels back, colour too."""
    return layer / layer[:, 3:4].clamp_min(1.0)


@dataclass
class _Run:
    """Consecutive planes of one reduced resolution, composited front to back at that resolution."""

    scale: int
    colour: torch.Tensor  # [N,3,h,w] premultiplied
    transmittance: torch.Tensor  # [N,1,h,w]

    @classmethod
    def empty(cls, scale: int, like: torch.Tensor) -> _Run:
        n, _, h, w = like.shape
        return cls(scale, like.new_zeros(n, 3, h, w), like.new_ones(n, 1, h, w))

    def add(self, layer: torch.Tensor) -> None:
        self.colour = self.colour + self.transmittance * layer[:, :3]
        self.transmittance = self.transmittance * (1.0 - layer[:, 3:4])

    def then(self, farther: _Run) -> _Run:
        """This run over a farther one, on the finer of their two grids (over is associative)."""
        front, back = self, farther
        if front.scale > back.scale:
            front = front.resampled(back.scale)
        elif back.scale > front.scale:
            back = back.resampled(front.scale)
        colour = front.colour + front.transmittance * back.colour
        return _Run(front.scale, colour, front.transmittance * back.transmittance)

    def resampled(self, scale: int) -> _Run:
        """The run on the finer grid of `scale` (bilinear)."""
        both = F.interpolate(
            torch.cat((self.colour, self.transmittance), dim=1),
            scale_factor=self.scale // scale,
            mode="bilinear",
            align_corners=False,
        )
        return _Run(scale, both[:, :3], both[:, 3:4])

    @staticmethod
    def composite_onto(
        runs: list[_Run], colour: torch.Tensor, transmittance: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Consecutive runs (nearest first), merged on their grids, brought to full resolution once and
        composited over what lies behind the nearer planes."""
        merged = runs[0]
        for farther in runs[1:]:
            merged = merged.then(farther)
        full = merged.resampled(1)
        return colour + transmittance * full.colour, transmittance * full.transmittance


@dataclass(frozen=True)
class _PooledPlanes:
    """Some planes' pixels pooled onto the grid of one reduced resolution."""

    members: list[int]  # the planes pooled here, ascending
    content: torch.Tensor  # [N,len(members),4,h,w] premultiplied colour and coverage of each plane's pixels
    nearer_coverage: torch.Tensor  # [N,len(members),1,h,w] fraction of each cell taken by nearer planes

    def plane(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(content [N,4,h,w], unhidden fraction [N,1,h,w]) of plane i."""
        slot = self.members.index(i)
        return self.content[:, slot], 1.0 - self.nearer_coverage[:, slot]


def _pool_planes(image: torch.Tensor, plane: torch.Tensor, members: list[int], scale: int) -> _PooledPlanes:
    """Area-pool [image, 1] of the member planes at 1/scale resolution, and the coverage of the planes
    nearer than each, with a few scatters over all pixels (not one pass per plane)."""
    n, _, h, w = image.shape
    cells = (h // scale) * (w // scale)
    cell_rows = torch.arange(h, device=image.device) // scale
    cell_cols = torch.arange(w, device=image.device) // scale
    cell = (cell_rows[:, None] * (w // scale) + cell_cols[None, :]).view(1, 1, h, w)
    batch = torch.arange(n, device=image.device).view(n, 1, 1, 1)
    sorted_members = torch.tensor(members, device=image.device)
    # Slot of each pixel's plane among the members, or len(members) (a dump slot) for other planes.
    slot = torch.searchsorted(sorted_members, plane)
    is_member = sorted_members[slot.clamp(max=len(members) - 1)] == plane
    slot = torch.where(is_member, slot, torch.full_like(slot, len(members)))
    slots = len(members) + 1
    key = ((batch * slots + slot) * cells + cell).flatten()
    size = n * slots * cells
    if image.requires_grad:
        values = torch.cat((image, torch.ones_like(image[:, :1])), dim=1).permute(0, 2, 3, 1).reshape(-1, 4)
        sums = values.new_zeros(size, 4).index_add(0, key, values).view(n, slots, cells, 4).permute(0, 1, 3, 2)
    else:  # bincount is several times faster than index_add on the CPU, but has no gradient
        channels = [torch.bincount(key, weights=image[:, c].flatten(), minlength=size) for c in range(3)]
        channels.append(torch.bincount(key, minlength=size).to(image.dtype))
        sums = torch.stack(channels, dim=1).view(n, slots, cells, 4).permute(0, 1, 3, 2).to(image.dtype)
    content = sums[:, :-1].reshape(n, len(members), 4, h // scale, w // scale) / scale**2
    # Coverage nearer than member k: the pixels whose plane is below it, i.e. at most k members at or below.
    bucket = torch.searchsorted(sorted_members, plane, right=True)
    counts = torch.bincount(((batch * slots + bucket) * cells + cell).flatten(), minlength=size)
    nearer = counts.view(n, slots, cells).cumsum(dim=1)[:, :-1].to(image.dtype) / scale**2
    return _PooledPlanes(members, content, nearer.view(n, len(members), 1, h // scale, w // scale).clamp(0, 1))


@dataclass(frozen=True)
class _BlockRanges:
    """The nearest and farthest plane in every _BLOCK x _BLOCK block of a window."""

    lowest: torch.Tensor  # [N,1,nby,nbx]
    highest: torch.Tensor  # [N,1,nby,nbx]

    @classmethod
    def of(cls, plane: torch.Tensor) -> _BlockRanges:
        return cls(-F.max_pool2d(-plane, _BLOCK), F.max_pool2d(plane, _BLOCK))

    def active(self, i: int, plan: PlanePlan, *, nearer_max_px: float) -> _Blocks:
        """Blocks plane i can touch: those holding its pixels, widened far enough for its blur and for the
        hidden part that the nearer planes' blur can reveal."""
        present = ((self.lowest <= i) & (self.highest >= i)).float()
        grow = math.ceil((nearer_max_px + abs(plan.radius_px) + 2) / _BLOCK)
        if grow:
            present = F.max_pool2d(present, 2 * grow + 1, stride=1, padding=grow)
        where = torch.nonzero(present[:, 0] > 0)
        return _Blocks(where[:, 0], where[:, 1], where[:, 2], _block_halo(plan))


def _block_halo(plan: PlanePlan) -> int:
    """Pixels around a block that the plane's kernels reach."""
    return max(kernel_radius_px(plan.radius_px), kernel_radius_px(plan.next_radius_px))


@dataclass(frozen=True)
class _Blocks:
    """A set of _BLOCK x _BLOCK blocks of a window: gathered with a halo into a batch, scattered back."""

    batch: torch.Tensor  # [K] image of the batch each block is in
    rows: torch.Tensor  # [K] block row
    cols: torch.Tensor  # [K] block column
    halo: int

    def gather(self, x: torch.Tensor, *, halo: int = 0, padded_by: int = 0) -> torch.Tensor:
        """[K,C,B+2*halo,B+2*halo] copies of the blocks of [N,C,H,W] with `halo` pixels around them; `x` may
        come already padded by `padded_by` >= halo pixels on every side (else edges are extended here)."""
        if padded_by:
            trim = padded_by - halo
            x = x[..., trim : x.shape[-2] - trim, trim : x.shape[-1] - trim]
        elif halo:
            x = F.pad(x, (halo, halo, halo, halo), mode="replicate")
        size = _BLOCK + 2 * halo
        tiles = x.unfold(2, size, _BLOCK).unfold(3, size, _BLOCK)  # [N,C,nby,nbx,size,size], a view
        return tiles[self.batch, :, self.rows, self.cols]

    def gather_upsampled(self, coarse: torch.Tensor) -> torch.Tensor:
        """Blocks, with the halo, of the bilinear x_FILL_SCALE upsampling of [N,C,H/s,W/s] (align_corners=False),
        computed from the coarse cells around each block only."""
        s = _FILL_SCALE
        margin = -(-self.halo // s) + 1  # coarse cells covering the halo, and one more for bilinear weights
        cells = _BLOCK // s + 2 * margin
        padded = F.pad(coarse, (margin, margin, margin, margin), mode="replicate")
        tiles = padded.unfold(2, cells, _BLOCK // s).unfold(3, cells, _BLOCK // s)
        up = F.interpolate(
            tiles[self.batch, :, self.rows, self.cols], scale_factor=s, mode="bilinear", align_corners=False
        )
        start = margin * s - self.halo
        return up[..., start : start + _BLOCK + 2 * self.halo, start : start + _BLOCK + 2 * self.halo]

    def scatter_(self, x: torch.Tensor, blocks: torch.Tensor) -> None:
        """Replace the blocks of [N,C,H,W] by [K,C,B,B], in place."""
        n, c, h, w = x.shape
        view = x.view(n, c, h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).permute(0, 1, 2, 4, 3, 5)
        view[self.batch, :, self.rows, self.cols] = blocks


def _blurred_full_plane(
    image: torch.Tensor,
    index: torch.Tensor,
    padded_by: int,
    hidden: torch.Tensor | None,
    where: _Blocks,
    i: int,
    plan: PlanePlan,
    aperture: ApertureShape,
) -> torch.Tensor:
    """Premultiplied RGBA [K,4,B,B] of full-resolution plane i over its active blocks, hidden part filled.

    `image` [N,3,H,W] and `index` [N,1,H,W] come padded by `padded_by` pixels on every side.

    Plane i holds the pixels whose fractional index lies in [i, i+1), radii between its own and the next
    farther plane's.  Each pixel is shared between the two planes' kernels linearly in the index, so the
    blur follows depth exactly at the planes and smoothly between them.  Where nearer planes hide this one,
    it is continued by `hidden`, the pull-push guess from its visible surroundings.
    """
    halo = where.halo
    offset = where.gather(index, halo=halo, padded_by=padded_by) - i
    inside = ((offset >= 0) & ((offset < 1) | (plan.next_radius_px == plan.radius_px))).to(image.dtype)
    content = torch.cat((inside * where.gather(image, halo=halo, padded_by=padded_by), inside), dim=1)
    shared = offset.clamp(0.0, 1.0) * content
    parts = torch.cat((content - shared, shared), dim=1)
    if hidden is not None:
        parts[:, :4] += (offset < 0).to(image.dtype) * hidden
    blurred = blur_layer_mixed(parts, [plan.radius_px, plan.next_radius_px], aperture, valid_only=True)
    start = (blurred.shape[-1] - _BLOCK) // 2  # the conv kept only pixels whose whole kernel was inside
    core = slice(start, start + _BLOCK)
    return blurred[:, :4, core, core] + blurred[:, 4:, core, core]


def _hidden_guess(pooled: _PooledPlanes, i: int, plan: PlanePlan) -> torch.Tensor:
    """Straight-colour pull-push guess [N,4,H/s,W/s] of plane i under nearer planes, on the coarse grid of
    `pooled` (the caller brings it to full resolution and masks it to the hidden pixels)."""
    content, unhidden = pooled.plane(i)
    levels = max(1, plan.fill_levels - int(math.log2(_FILL_SCALE)))
    return push_pull_fill(content / unhidden.clamp_min(1e-6), unhidden, levels=levels)


def _hidden_part(content: torch.Tensor, unhidden: torch.Tensor, levels: int) -> torch.Tensor:
    """Premultiplied RGBA for the part of the plane that nearer planes cover: pull-push of its surroundings."""
    straight = content / unhidden.clamp_min(1e-6)
    return (1.0 - unhidden) * push_pull_fill(straight, unhidden, levels=levels)
