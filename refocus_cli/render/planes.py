"""Depth planes of the layered renderer: where they sit in CoC radius, which pixels belong to which, and at
what resolution each is blurred."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.errors import SettingsError


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

    plane_step_px: float = 0.75
    plane_step_ratio: float = 0.15
    reduced_radius_px: float = 2.0
    fill_hidden: bool = True
    max_scale: int = 16


FILL_SCALE = 4
"""The coarse grid that full-resolution planes take their hidden-part guess from."""

QUALITY_PRESETS = {"fast": 2.0, "fine": 3.0}
"""--quality name -> reduced_radius_px: "fine" blurs wide planes on finer grids (crisper bokeh rims, about
1.3-1.4x the render time)."""
SHAPED_GRID_FACTOR = 3.0
"""A shaped opening (polygon, custom image, anamorphic oval) is blurred with kernels this many times wider on
the reduced grids: a hexagon's corners reach only 15% beyond its edges, and with 2-4 px kernels the box pooling
and bilinear upsampling around them round the shape off to a disc (vertex/edge extent 1.01-1.04 for the exact
1.155); at 6-12 px it measures 1.10-1.14, as at full resolution within the pixel grid."""


def is_shaped(aperture: ApertureShape | None) -> bool:
    """Whether the opening has a shape a disc would lose: a polygon, a custom image or an aspect other than 1."""
    return aperture is not None and (aperture.kind != "disc" or aperture.aspect != 1.0)


def settings_for_quality(name: str, aperture: ApertureShape | None = None) -> LayeredSettings:
    """The renderer settings behind `--quality fast|fine` for this opening (a disc when None): a shaped one
    gets grids SHAPED_GRID_FACTOR times finer, so that its shape shows at every quality.

    >>> settings_for_quality("fast").reduced_radius_px, settings_for_quality("fast", ApertureShape("polygon"))
    (2.0, LayeredSettings(plane_step_px=0.75, plane_step_ratio=0.15, reduced_radius_px=6.0, fill_hidden=True, \
max_scale=16))
    """
    if name not in QUALITY_PRESETS:
        raise SettingsError(f"--quality must be one of {', '.join(QUALITY_PRESETS)}, got {name!r}")
    factor = SHAPED_GRID_FACTOR if is_shaped(aperture) else 1.0
    return LayeredSettings(reduced_radius_px=QUALITY_PRESETS[name] * factor)


def plane_gap(radius_px: float, settings: LayeredSettings) -> float:
    """CoC-radius gap from a plane at this radius to the next one out (see LayeredSettings)."""
    step = settings.plane_step_px
    return max(step, min(radius_px / 4, 2 * step), settings.plane_step_ratio * radius_px)


def plane_radii(coc_min_px: float, coc_max_px: float, settings: LayeredSettings) -> list[float]:
    """Signed radii of the planes covering [coc_min, coc_max], nearest (largest) first, 0 included.

    >>> [round(r, 2) for r in plane_radii(-2.0, 3.0, LayeredSettings())]
    [3.0, 2.25, 1.5, 0.75, 0.0, -0.67, -1.33, -2.0]
    """

    def side(limit: float) -> list[float]:
        radii = [0.0]
        while radii[-1] < limit - 1e-6:
            radii.append(radii[-1] + plane_gap(radii[-1], settings))
        if len(radii) > 1:  # shrink the run to end on the range's end: every gap stays within its bound
            radii = [r * limit / radii[-1] for r in radii]
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


@dataclass(frozen=True)
class PlanePlan:
    """How one plane is rendered: its radius, the kernels it shares its pixels between, its resolution
    reduction and its hole-filling pyramid depth."""

    radius_px: float
    next_radius_px: float  # the farther neighbour's radius: a plane holds radii in [next, own]
    scale: int
    fill_levels: int

    @property
    def fill_span_px(self) -> int:
        """Full-resolution pixels under one cell of the coarsest level of this plane's hole filling: on its own
        grid for a reduced plane, on the FILL_SCALE grid (one level at least) for a full-resolution one."""
        if self.scale > 1:
            return self.scale * 2**self.fill_levels
        return FILL_SCALE * 2 ** max(1, self.fill_levels - int(math.log2(FILL_SCALE)))

    @property
    def reach_px(self) -> int:
        """Full-resolution distance over which input can affect an output pixel through this plane."""
        widest = max(abs(self.radius_px), abs(self.next_radius_px))
        return math.ceil(widest) + 2 + (3 * self.fill_span_px) // 2

    def radius_at(self, offset: float) -> float:
        """The radius a fraction `offset` (0..1) of the way to the next plane: the one kernel a reduced plane
        uses, taken at its pixels' mean offset."""
        return self.radius_px + offset * (self.next_radius_px - self.radius_px)


def mean_offsets(index: torch.Tensor, count: int) -> list[float]:
    """Mean fractional position of each plane's pixels between it and the next plane (0 where none).

    Args:
        index: [N,1,H,W] fractional plane index (plane i holds [i, i+1)).
        count: number of planes.
    """
    sums, pixels = offset_sums(index, count)
    return (sums / pixels.clamp_min(1)).tolist()


def offset_sums(index: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per plane, the sum of its pixels' fractional offsets and their number ([count] float64 each): added over
    the bands of an image, they give its `mean_offsets` without holding its index whole."""
    plane = torch.floor(index.detach()).clamp(max=count - 1)
    offset = (index.detach() - plane).flatten().double()
    plane = plane.long().flatten()
    pixels = torch.bincount(plane, minlength=count).double()
    return torch.bincount(plane, weights=offset, minlength=count), pixels


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
