"""Tile geometry for rendering large images with bounded memory (Real-ESRGAN-style overlapping tiles).

Each tile is rendered with a halo wide enough that every output pixel of its core sees all the input that
can reach it (the largest blur radius plus the support of the hole filling); only the core is pasted.
Tile corners sit on multiples of `align`, so pyramids and reduced-resolution grids line up across tiles
and a tiled render equals a whole-image one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class TileWindow:
    """Rows and columns of one tile: the halo-extended window read, and the core written."""

    read_top: int
    read_bottom: int
    read_left: int
    read_right: int
    core_top: int
    core_bottom: int
    core_left: int
    core_right: int

    @property
    def core_in_read(self) -> tuple[slice, slice]:
        """The core's rows and columns within the read window."""
        return (
            slice(self.core_top - self.read_top, self.core_bottom - self.read_top),
            slice(self.core_left - self.read_left, self.core_right - self.read_left),
        )


def round_up(value: int, multiple: int) -> int:
    """Smallest multiple of `multiple` that is >= value.

    >>> round_up(130, 64)
    192
    """
    return int(math.ceil(value / multiple) * multiple)


def tile_windows(height: int, width: int, *, tile_px: int, halo_px: int, align: int) -> Iterator[TileWindow]:
    """Cover an image with cores of about `tile_px` (a multiple of `align`) read with `halo_px` around them.

    Args:
        height, width: image size in pixels.
        tile_px: core size wanted; rounded up to a multiple of `align`.
        halo_px: context on every side; rounded up to a multiple of `align`, clipped at the image border.
        align: every window edge inside the image sits on a multiple of it.

    Yields:
        TileWindow for each tile, row by row.
    """
    core = round_up(max(tile_px, align), align)
    halo = round_up(halo_px, align)
    for top in range(0, height, core):
        for left in range(0, width, core):
            yield TileWindow(
                read_top=max(0, top - halo),
                read_bottom=min(height, top + core + halo),
                read_left=max(0, left - halo),
                read_right=min(width, left + core + halo),
                core_top=top,
                core_bottom=min(height, top + core),
                core_left=left,
                core_right=min(width, left + core),
            )
