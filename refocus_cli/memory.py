"""The memory a refocus job needs, estimated from sizes known before any pixel is decoded, and the budget it must
fit: `REFOCUS_MEMORY_GB` (default 4) gigabytes of peak resident memory.

A photo whose whole-image pipe would not fit is refocused in tiles (`image.tiled`): it is held as its 8- or 16-bit
samples, turned into linear light a tile at a time, and each rendered tile is encoded at once, so memory holds
the samples, the depth and the CoC map (float32) and one tile's working set. A job that does not fit even so (the
learned engine or restore need the whole image; a huge blur needs a huge halo) is refused in one line first.

The figures are per-pixel costs of each phase, calibrated on peaks measured with `/usr/bin/time -v` (13000x13000
and 8000x6000 photos, CPU); they err on the high side.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from refocus_cli.errors import ResourceError, SettingsError
from refocus_cli.lens import MAX_COC_RADIUS_PX
from refocus_cli.render.planes import LayeredSettings, plan_planes
from refocus_cli.render.tiles import round_up

MEMORY_ENV = "REFOCUS_MEMORY_GB"
DEFAULT_MEMORY_GB = 4.0
GIB = 2**30
RUNTIME_BYTES = 400 * 2**20
"""The interpreter with torch, OpenCV and Pillow loaded, before any image."""
WHOLE_BYTES_PER_PX = 100
"""The whole-image pipe, besides the render's tiles: samples, linear light (several copies: read, highlights,
render, encode), depth, CoC and plane index maps."""
WHOLE_ONLY_BYTES_PER_PX = {"learned": 400, "restore": 250}
"""What the whole-image-only steps add per pixel (their networks and filters hold several full-size maps)."""
WINDOW_BYTES_PER_PX = 220
"""A render window's working set per pixel of the window (tile, halo and the renderer's edge margin): planes,
pooled grids, blurred layers (measured 200-230 for CoC radii of 8 to 256 px where each plane holds few pixels)..."""
DENSE_BYTES_PER_PX = 450
"""...plus, per pixel within reach of the tile's core, what full-resolution planes (radii under 4 px) cost where
they cover it all: a large region just out of focus (measured 590 in all where flat regions at three depths meet
in one tile, 785 for depth that is noise, no photo's)..."""
WINDOW_BYTES = 60 * 2**20
WINDOW_BYTES_PER_COC_PX = 1.5 * 2**20
"""...and, whatever the window's size, kernels and coarse grids that grow with the blur (measured 15 MB at 8 px,
390 MB at 256 px)."""
MAX_HALO_OVERHEAD = 8.0
"""Tiles whose windows hold more than this many times their core's pixels are not used (too slow)."""
DEPTH_READ_BYTES_PER_VALUE = {False: 14, True: 28}
"""Reading a depth file, per value (integer image: decoded, float64, float32; float file: also 1/z and metres)."""
AUTO_DEPTH_BYTES = 1536 * 2**20
"""Depth found without a file (embedded, a learned model, defocus, two-plane), on a copy at most
`AUTO_DEPTH_SIDE_PX` long: the copy, the estimator and its weights."""
AUTO_DEPTH_SIDE_PX = 2048
SAVE_DEPTH_BYTES_PER_PX = 20
"""Writing the depth used (--save-depth): 16-bit PNG and a colour preview, from the float32 map."""
TILE_SIZES_PX = (4096, 2048, 1024, 512, 256)
"""Tile cores tried, largest first: larger tiles spend less on halos."""


@dataclass(frozen=True)
class JobSize:
    """What decides a job's memory, all known from file headers and options.

    Attributes:
        width, height: the photo's size in pixels.
        bit_depth: bits per sample of the photo (8 or 16); `out_bit_depth` likewise of the output.
        depth_values: values in the depth file (0: no file, depth is found another way).
        float_depth: the depth file holds floats (metric depth is kept beside the disparity).
        whole_only: why the job needs the whole image in linear light ("learned", "restore"), else "".
        save_depth: the depth used is written too.
        generated: `refocus generate` made the photo (it is refocused with the lens its EXIF records).
    """

    width: int
    height: int
    bit_depth: int = 8
    out_bit_depth: int = 8
    depth_values: int = 0
    float_depth: bool = False
    whole_only: str = ""
    save_depth: bool = False
    generated: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


def memory_budget_bytes() -> int:
    """The budget from `REFOCUS_MEMORY_GB` (a positive number of gigabytes), default 4 GB.

    Raises:
        SettingsError: the variable is set but not a positive number.
    """
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return int(DEFAULT_MEMORY_GB * GIB)
    try:
        gigabytes = float(text)
    except ValueError:
        gigabytes = math.nan
    if not (math.isfinite(gigabytes) and gigabytes > 0):
        raise SettingsError(f"{MEMORY_ENV} must be a positive number of gigabytes, got {text!r}")
    return int(gigabytes * GIB)


def render_reach(coc_radius_px: float) -> tuple[int, int]:
    """(halo, alignment) in pixels of render tiles for CoC radii up to `coc_radius_px`."""
    plans = plan_planes(-coc_radius_px, coc_radius_px, LayeredSettings())
    align = max(plan.fill_span_px for plan in plans)
    return max(plan.reach_px for plan in plans), align


def window_px(tile_px: int, coc_radius_px: float, size_hw: tuple[int, int]) -> tuple[int, int, int]:
    """Pixels of a tile's window (the tile of `tile_px`, its halo and the renderer's edge margin), of the part
    within reach of its core (where full-resolution planes work), and of its core; no larger than the image of
    `size_hw` (and its margin)."""
    halo, align = render_reach(coc_radius_px)
    margin = round_up(math.ceil(coc_radius_px) + 2, 16)  # the renderer pads to its 16 px block grid
    core = [min(round_up(tile_px, align), size) for size in size_hw]
    window = [
        min(side + 2 * round_up(halo, align), size) + 2 * margin for side, size in zip(core, size_hw, strict=True)
    ]
    near = [min(side + 2 * math.ceil(coc_radius_px + 20), size) for side, size in zip(core, window, strict=True)]
    return window[0] * window[1], near[0] * near[1], core[0] * core[1]


def window_bytes(tile_px: int, coc_radius_px: float, size_hw: tuple[int, int]) -> int:
    """Working set of rendering one tile of `tile_px` of an image of `size_hw` with CoC radii up to
    `coc_radius_px`."""
    window, near, _ = window_px(tile_px, coc_radius_px, size_hw)
    fixed = WINDOW_BYTES + WINDOW_BYTES_PER_COC_PX * coc_radius_px
    return int(fixed + window * WINDOW_BYTES_PER_PX + near * DENSE_BYTES_PER_PX)


def estimate_job_bytes(job: JobSize, *, tile_px: int | None = None, coc_radius_px: float = MAX_COC_RADIUS_PX) -> int:
    """Peak resident bytes of a job: the whole-image pipe (`tile_px` None) or tiles of `tile_px`, for CoC radii up
    to `coc_radius_px`. The peak is that of the hungriest phase (read, depth, render, write).

    >>> small, large = JobSize(2000, 1500), JobSize(13000, 13000)
    >>> estimate_job_bytes(small, coc_radius_px=8) < 4 * GIB < estimate_job_bytes(large, coc_radius_px=8)
    True
    >>> estimate_job_bytes(large, tile_px=1024, coc_radius_px=8) < 4 * GIB
    True
    """
    p = job.pixels
    resized = 4 * p * (2 if job.float_depth else 1)  # a map of another size is resized to the photo's
    depth_read = (
        DEPTH_READ_BYTES_PER_VALUE[job.float_depth] * job.depth_values + (resized if job.depth_values != p else 0)
        if job.depth_values
        else AUTO_DEPTH_BYTES + resized
    )
    saving = SAVE_DEPTH_BYTES_PER_PX * p if job.save_depth else 0
    if tile_px is None:
        whole = WHOLE_BYTES_PER_PX * p + WHOLE_ONLY_BYTES_PER_PX.get(job.whole_only, 0) * p
        render = whole + window_bytes(2048, coc_radius_px, (job.height, job.width))
        return RUNTIME_BYTES + max(render, depth_read + 15 * p, saving + 4 * p)
    samples, out = 3 * p * job.bit_depth // 8, 3 * p * job.out_bit_depth // 8
    maps = 4 * p * (2 if job.float_depth else 1)  # disparity (and metres)
    # Pillow's pixels; for 16 bits also FFmpeg's frame and its conversion (Pillow holds 8 bits of it first)
    decode = samples + (4 if job.bit_depth == 8 else 16) * p
    depth = samples + depth_read
    coc = samples + maps + (12 if job.float_depth else 8) * p  # the CoC map and its temporaries
    kept = maps if job.save_depth else 0  # else the depth is dropped once the CoC map is made
    render = samples + kept + 4 * p + out + window_bytes(tile_px, coc_radius_px, (job.height, job.width))
    write = out + (4 * p if job.out_bit_depth == 8 else 0) + (4 * p if job.save_depth else 0)  # Pillow's copy
    return RUNTIME_BYTES + max(decode, depth, coc, render, write, saving + 4 * p)


def tile_size_for(job: JobSize, coc_radius_px: float, budget_bytes: int) -> int | None:
    """The largest tile (of `TILE_SIZES_PX`) whose job fits the budget and whose window is at most
    `MAX_HALO_OVERHEAD` times its core, or None."""
    for tile_px in TILE_SIZES_PX:
        window, _, core = window_px(tile_px, coc_radius_px, (job.height, job.width))
        fits = estimate_job_bytes(job, tile_px=tile_px, coc_radius_px=coc_radius_px) <= budget_bytes
        if fits and window <= MAX_HALO_OVERHEAD * core:
            return tile_px
    return None


def least_tiled_bytes(job: JobSize, coc_radius_px: float) -> int:
    """The least a job in tiles can need: with its smallest tile whose window is at most `MAX_HALO_OVERHEAD`
    times its core (with the largest tile when none is)."""
    acceptable = [
        tile_px
        for tile_px in TILE_SIZES_PX
        if (sizes := window_px(tile_px, coc_radius_px, (job.height, job.width)))[0] <= MAX_HALO_OVERHEAD * sizes[2]
    ]
    tile_px = acceptable[-1] if acceptable else TILE_SIZES_PX[0]
    return estimate_job_bytes(job, tile_px=tile_px, coc_radius_px=coc_radius_px)


def too_large(what: str, job: JobSize, needed_bytes: int, budget_bytes: int, hint: str) -> ResourceError:
    """The one line that refuses a job: what, how much it needs, the budget, and what to do."""
    return ResourceError(
        f"{what}: refocusing this {job.width}x{job.height} photo needs about {needed_bytes / GIB:.1f} GB, over the "
        f"memory budget of {budget_bytes / GIB:.3g} GB ({MEMORY_ENV}); {hint}"
    )


def release_freed_memory() -> None:
    """Hand the memory freed so far back to the system. glibc keeps freed blocks of up to 32 MB in its heap once
    a block that size has been freed (its mmap threshold rises to it); tile after tile of the same size, that
    grows the resident set by gigabytes. `malloc_trim` returns them. Nothing happens off glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
