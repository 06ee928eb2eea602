"""The layered renderer for images too large to hold in linear light: tiles read on demand, handed back rendered.

`render_layered` takes the image and its CoC map whole. Here the caller reads each tile's window (the tile and a
halo that covers the largest blur and the hole filling) when it is needed, say from 8-bit samples converted to
linear light tile by tile, and takes each rendered core away, say to encode it at once. Memory holds one window
and its working set, whatever the image's size. The planes and their mean offsets are planned first from the CoC
map band by band, so every tile renders with the whole image's planes and the result equals `render_layered`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.render.layered import render_window
from refocus_cli.render.planes import LayeredSettings, PlanePlan, offset_sums, plan_planes, plane_index
from refocus_cli.render.tiles import tile_windows

TileReader = Callable[[slice, slice], tuple[torch.Tensor, torch.Tensor]]
"""(rows, columns) -> (image [N,3,h,w] linear light, signed CoC [N,1,h,w] pixels) of that window."""
TileWriter = Callable[[slice, slice, torch.Tensor], None]
"""(rows, columns, rendered [N,3,h,w] linear light) of a finished core."""


@dataclass(frozen=True)
class LayeredPlan:
    """What every tile of one render shares: the depth planes and the mean offset of each plane's pixels."""

    plans: tuple[PlanePlan, ...]
    offsets: tuple[float, ...]

    @property
    def still(self) -> bool:
        """No pixel is blurred: the render is the image itself."""
        return len(self.plans) == 1 and self.plans[0].radius_px == 0

    @property
    def max_coc_radius_px(self) -> float:
        """The largest |CoC radius| of the image, pixels."""
        return max(abs(plan.radius_px) for plan in self.plans)

    @property
    def halo_px(self) -> int:
        """Context a tile needs on every side: the farthest any input pixel reaches through a plane."""
        return 0 if self.still else max(plan.reach_px for plan in self.plans)

    @property
    def align(self) -> int:
        """Tile edges sit on multiples of this, so the coarse grids of all tiles line up."""
        return max(plan.fill_span_px for plan in self.plans)


def plan_layered(coc_bands: Callable[[], Iterable[torch.Tensor]], settings: LayeredSettings) -> LayeredPlan:
    """The planes of an image from its CoC map, read twice band by band (its range, then the offsets).

    Args:
        coc_bands: yields the signed CoC map [N,1,h,W] in bands of rows, top to bottom, each time it is called.
        settings: the renderer's quality knobs.

    >>> plan = plan_layered(lambda: iter([torch.zeros(1, 1, 4, 4)]), LayeredSettings())
    >>> plan.still, plan.halo_px
    (True, 0)
    """
    low, high = float("inf"), float("-inf")
    for band in coc_bands():
        low, high = min(low, float(band.min())), max(high, float(band.max()))
    plans = plan_planes(low, high, settings)
    radii = [plan.radius_px for plan in plans]
    sums = torch.zeros(len(plans), dtype=torch.float64)
    pixels = torch.zeros(len(plans), dtype=torch.float64)
    for band in coc_bands():
        band_sums, band_pixels = offset_sums(plane_index(band, radii), len(plans))
        sums, pixels = sums + band_sums, pixels + band_pixels
    return LayeredPlan(tuple(plans), tuple((sums / pixels.clamp_min(1)).tolist()))


def render_tiles(
    size_hw: tuple[int, int],
    plan: LayeredPlan,
    read: TileReader,
    write: TileWriter,
    *,
    aperture: ApertureShape | None = None,
    settings: LayeredSettings | None = None,
    tile_px: int = 2048,
) -> None:
    """Render an image of `size_hw` tile by tile: `read` gives each window, `write` takes each rendered core.

    Every output pixel is written once; the cores cover the image row by row. The result equals
    `render_layered(image, coc, aperture, settings)` on the whole image.
    """
    aperture = aperture or ApertureShape()
    settings = settings or LayeredSettings()
    h, w = size_hw
    radii = [p.radius_px for p in plan.plans]
    for window in tile_windows(h, w, tile_px=tile_px, halo_px=plan.halo_px, align=plan.align):
        rows, cols = slice(window.read_top, window.read_bottom), slice(window.read_left, window.read_right)
        image, coc = read(rows, cols)
        if plan.still:
            rendered = image
        else:
            index = plane_index(coc, radii)
            rendered = render_window(image, index, list(plan.plans), list(plan.offsets), aperture, settings.fill_hidden)
        core_rows, core_cols = window.core_in_read
        write(
            slice(window.core_top, window.core_bottom),
            slice(window.core_left, window.core_right),
            rendered[..., core_rows, core_cols],
        )
