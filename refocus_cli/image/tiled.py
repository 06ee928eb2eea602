"""One image within the memory budget: the whole-image pipe when it fits, else the same pipe in tiles, else one
line before any pixel work.

`refocus_image` is what `refocus image` runs for each photo. It reads only headers to estimate the job
(`memory.estimate_job_bytes`). In tiles, the photo stays as its 8- or 16-bit samples; depth is read as usual (or,
without a depth file, found on a copy at most `AUTO_DEPTH_SIDE_PX` long and brought back to full size); the CoC
map is made whole (float32); then each tile is turned into linear light, boosted, rendered with a halo that covers
the largest blur (`render.streamed`) and encoded into the output samples at once. The output equals the whole
pipe's (the render is the same to float precision).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.depth.choose import choose_depth
from refocus_cli.devices import resolve_device
from refocus_cli.errors import OutputError
from refocus_cli.focus import FocusSpec, focus_window
from refocus_cli.highlights import boost_highlights
from refocus_cli.image.pipeline import (
    check_camera_terms,
    coc_map,
    depth_request,
    refocus_image_file,
    request_paths,
    with_depth_focus,
    with_photo_focus,
    with_recorded_lens,
)
from refocus_cli.image.request import ImageRequest, ImageResult
from refocus_cli.io.camera_exif import GENERATED_BY
from refocus_cli.io.depth_files import DepthMap, max_values, read_depth_file
from refocus_cli.io.depth_output import save_depth
from refocus_cli.io.images import (
    LoadedImage,
    encode_srgb,
    output_bit_depth,
    pixels_to_linear,
    read_image_codes,
    stored_bits,
    write_codes,
)
from refocus_cli.io.run_paths import check_run_paths
from refocus_cli.lens import MAX_COC_RADIUS_PX
from refocus_cli.memory import (
    AUTO_DEPTH_SIDE_PX,
    TILE_SIZES_PX,
    JobSize,
    estimate_job_bytes,
    least_tiled_bytes,
    memory_budget_bytes,
    release_freed_memory,
    tile_size_for,
    too_large,
)
from refocus_cli.modes import Restore
from refocus_cli.render.planes import settings_for_quality
from refocus_cli.render.streamed import LayeredPlan, plan_layered, render_tiles

EXIF_SOFTWARE = 0x0131
BAND_ROWS = 512
"""Rows per band when a whole-image map is scanned (the CoC range, the planes' offsets, the depth copy)."""


def refocus_image(request: ImageRequest) -> ImageResult:
    """Refocus one image within the memory budget (`REFOCUS_MEMORY_GB`): whole, or in tiles.

    Raises:
        ResourceError: the job cannot fit even in tiles (one line, before any pixel is decoded).
        RefocusError: as `refocus_image_file`.
    """
    job = job_size(request)
    if job is None:  # not an image we can read: the whole pipe says why
        return refocus_image_file(request)
    budget = memory_budget_bytes()
    needed = estimate_job_bytes(job, coc_radius_px=blur_bound_px(request, job))
    if needed <= budget:
        return refocus_image_file(request)
    if job.whole_only == "restore" and request.restore == Restore.auto:  # auto gives way; on is refused below
        skipped = f"{request.input_path}: {RESTORE_SKIPPED}"
        result = refocus_image(replace(request, restore=Restore.off))
        return replace(result, notes=(*result.notes, skipped))
    if job.whole_only:
        hint = "use --engine physics" if job.whole_only == "learned" else "use --restore off"
        raise too_large(str(request.input_path), job, needed, budget, f"{hint} (it renders in tiles)")
    smallest = estimate_job_bytes(job, tile_px=TILE_SIZES_PX[-1], coc_radius_px=0.0)
    if smallest > budget:
        hint = "use a smaller photo, or raise the budget" + (" (or drop --save-depth)" if job.save_depth else "")
        raise too_large(str(request.input_path), job, smallest, budget, hint)
    return refocus_in_tiles(request, job, budget)


RESTORE_SKIPPED = (
    "restore auto was skipped: restoring this photo needs it whole in memory beyond the budget "
    "(REFOCUS_MEMORY_GB); pass --restore on with a larger budget to restore it"
)


def blur_bound_px(request: ImageRequest, job: JobSize) -> float:
    """The largest CoC radius the request can give before its depth is known: K (|d - d_focus| <= 1), or the cap
    (physical mode, also an image `refocus generate` made, which is refocused with its own lens)."""
    if request.blur_k_px is None or (request.lens_from_photo and job.generated):
        return MAX_COC_RADIUS_PX
    return min(request.blur_k_px, MAX_COC_RADIUS_PX)


def job_size(request: ImageRequest) -> JobSize | None:
    """The job's sizes from the photo's and depth file's headers; None when the photo's header cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the header only; read_image checks and reports
            with Image.open(request.input_path) as img:
                width, height = img.size
                bits = 16 if img.mode.startswith("I") or stored_bits(request.input_path, img) == 16 else 8
                generated = str(img.getexif().get(EXIF_SOFTWARE, "")).strip("\x00 ") == GENERATED_BY
    except Exception:  # any header at all: the whole pipe reads the photo and says what is wrong
        return None
    try:
        out_bits = output_bit_depth(bits, request.output_path)
    except OutputError:
        return None
    depth_values, float_depth = 0, False
    if request.depth_path is not None and request.depth_source in ("auto", "file"):
        depth_values, float_depth = depth_file_size(request.depth_path, (height, width))
    whole_only = "learned" if request.engine == "learned" else "restore" if request.restore != "off" else ""
    return JobSize(
        width,
        height,
        bits,
        out_bits,
        depth_values,
        float_depth,
        whole_only,
        request.save_depth or request.save_depth_npy,
        generated,
    )


def depth_file_size(path: Path, photo_size_hw: tuple[int, int]) -> tuple[int, bool]:
    """(values, holds floats) of a depth file from its header, for the estimate only; the photo's size and floats
    when the header is unreadable or declares more than a depth file may hold (the read itself will say why)."""
    photo_pixels = photo_size_hw[0] * photo_size_hw[1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an estimate from the header: the read reports what is wrong
            if path.suffix.lower() == ".npy":
                array = np.load(path, mmap_mode="r", allow_pickle=False)  # the header only: no value is read
                values, floats = int(array.size), array.dtype.kind == "f"
            elif path.suffix.lower() == ".pfm":
                with path.open("rb") as file:
                    words = file.read(64).split()
                values, floats = int(words[1]) * int(words[2]) * (3 if words[0] == b"PF" else 1), True
            else:
                with Image.open(path) as img:
                    values, floats = img.width * img.height, img.mode == "F"
    except Exception:  # any header at all: this is only an estimate
        return photo_pixels, True
    if not 0 < values <= max_values(photo_size_hw):
        return photo_pixels, True
    return values, floats


def refocus_in_tiles(request: ImageRequest, job: JobSize, budget_bytes: int) -> ImageResult:
    """`refocus_image_file` for a photo too large to hold in linear light: the same steps, in tiles."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    device = resolve_device(request.device)
    check_run_paths(request_paths(request), overwrite=request.overwrite)
    loaded, samples = read_image_codes(request.input_path)  # loaded.linear is a shape only
    check_camera_terms(request, loaded)
    request, photo_rule = with_photo_focus(request, loaded)
    depth, depth_notes = full_size_depth(request, loaded, samples)
    notes = [*loaded.notes, *depth_notes]  # EXIF fields ignored as malformed, then how the depth was found
    request = with_recorded_lens(request, loaded, depth, notes)
    request, auto_rule = with_depth_focus(request, loaded, depth)
    blur = coc_map(request, loaded, depth)
    notes.extend([f"{request.input_path}: {blur.placement.note()}"] if blur.placement else [])
    coc, metric_depth = blur.coc, blur.metric_depth_record()
    blur = replace(blur, coc=coc.new_empty(0))  # the CoC map is freed with `coc` below
    timings["read"] = time.perf_counter() - start

    start = time.perf_counter()
    source = depth.source
    depth_to_save = depth if request.save_depth or request.save_depth_npy else None
    del depth  # the CoC map is all the render needs
    plan = plan_layered(partial(bands, coc), settings_for_quality(request.quality, request.aperture))
    tile_px = tile_size_for(job, plan.max_coc_radius_px, budget_bytes)
    if tile_px is None:
        radius = plan.max_coc_radius_px
        needed = least_tiled_bytes(job, radius)
        hint = f"its largest blur radius is {radius:.0f} px: use a smaller --blur or photo, or a larger budget"
        raise too_large(str(request.input_path), job, needed, budget_bytes, hint)
    bit_depth = output_bit_depth(loaded.bit_depth, request.output_path)
    rendered = render_samples(samples, loaded.bit_depth, coc, plan, request, device, tile_px, bit_depth)
    del samples, coc
    timings["render"] = time.perf_counter() - start

    start = time.perf_counter()
    write_codes(
        request.output_path,
        rendered,
        exif=loaded.exif,
        icc_profile=loaded.icc_profile,
        overwrite=request.overwrite,
    )
    del rendered
    if depth_to_save is not None:
        save_depth(depth_to_save, request.output_path, with_npy=request.save_depth_npy, overwrite=request.overwrite)
    timings["write"] = time.perf_counter() - start
    notes.append(f"{request.input_path}: {loaded.width}x{loaded.height} rendered in tiles of {tile_px} px")
    return ImageResult.of(
        request,
        (loaded.width, loaded.height),
        depth_source=source,
        focus_disparity=blur.focus_disparity,
        focus_rule=auto_rule or photo_rule or blur.rule,
        camera=blur.camera,
        metric_depth=metric_depth,
        max_coc_radius_px=plan.max_coc_radius_px,
        device=str(device),
        timings_s=timings,
        notes=tuple(notes),
    )


def bands(image: torch.Tensor, rows: int = BAND_ROWS) -> list[torch.Tensor]:
    """Views of [N,C,H,W] in bands of `rows` rows, top to bottom."""
    return [image[..., top : top + rows, :] for top in range(0, image.shape[-2], rows)]


def render_samples(
    samples: np.ndarray,
    bit_depth: int,
    coc: torch.Tensor,
    plan: LayeredPlan,
    request: ImageRequest,
    device: torch.device,
    tile_px: int,
    out_bit_depth: int,
) -> np.ndarray:
    """Render [H,W,3] sRGB samples with the CoC map [1,1,H,W] tile by tile into new [H,W,3] samples of
    `out_bit_depth`: each tile in linear light, highlights boosted, rendered on `device`, encoded."""
    out = np.empty(samples.shape, np.uint16 if out_bit_depth == 16 else np.uint8)

    def read(rows: slice, cols: slice) -> tuple[torch.Tensor, torch.Tensor]:
        window_coc = coc[..., rows, cols]
        linear = boost_highlights(pixels_to_linear(samples[rows, cols], bit_depth), window_coc, request.highlights)
        return linear.to(device), window_coc.to(device)

    def write(rows: slice, cols: slice, rendered: torch.Tensor) -> None:
        out[rows, cols] = encode_srgb(rendered.cpu(), out_bit_depth)
        release_freed_memory()  # the tile's working set, before the next tile's

    with torch.no_grad():
        render_tiles(
            tuple(samples.shape[:2]),
            plan,
            read,
            write,
            aperture=request.aperture,
            settings=settings_for_quality(request.quality, request.aperture),
            tile_px=tile_px,
        )
    return out


def full_size_depth(request: ImageRequest, loaded: LoadedImage, samples: np.ndarray) -> tuple[DepthMap, list[str]]:
    """The depth at the photo's size: its depth file read as usual, else found on a copy at most
    `AUTO_DEPTH_SIDE_PX` long (every automatic source wants linear light) and resized bilinearly."""
    size_hw = (loaded.height, loaded.width)
    if request.depth_path is not None and request.depth_source in ("auto", "file"):
        return read_depth_file(request.depth_path, kind=request.depth_kind, size_hw=size_hw), []
    focus_window(request.focus, request.input_path, size_hw)  # a focus outside the photo, in its own pixels
    factor = math.ceil(max(size_hw) / AUTO_DEPTH_SIDE_PX)
    small = replace(loaded, linear=reduced_linear(samples, loaded.bit_depth, factor))
    depth, notes = choose_depth(depth_request(request), small, scaled_focus(request.focus, factor))
    if factor > 1:
        small_w, small_h = small.width, small.height
        notes.append(f"{request.input_path}: depth found on a {small_w}x{small_h} copy of the photo (too large)")

    def full(values: torch.Tensor | None) -> torch.Tensor | None:
        return None if values is None else F.interpolate(values, size=size_hw, mode="bilinear", align_corners=False)

    disparity = full(depth.disparity)
    assert disparity is not None
    return replace(depth, disparity=disparity.clamp_(0.0, 1.0), metric_depth_m=full(depth.metric_depth_m)), notes


def reduced_linear(samples: np.ndarray, bit_depth: int, factor: int) -> torch.Tensor:
    """[1,3,ceil(H/f),ceil(W/f)] linear light: the mean of each f x f block of the [H,W,3] samples, band by band."""
    rows = factor * max(1, BAND_ROWS // factor)
    parts = [
        F.avg_pool2d(pixels_to_linear(samples[top : top + rows], bit_depth), factor, ceil_mode=True)
        for top in range(0, samples.shape[0], rows)
    ]
    return torch.cat(parts, dim=-2)


def scaled_focus(focus: FocusSpec, factor: int) -> FocusSpec:
    """A focus point or box in pixels of a copy reduced `factor` times (a disparity stays as it is)."""
    if focus.point_xy is not None:
        x, y = focus.point_xy
        return replace(focus, point_xy=(x / factor, y / factor))
    if focus.box_xywh is not None:
        x, y, w, h = focus.box_xywh
        return replace(focus, box_xywh=(x / factor, y / factor, w / factor, h / factor))
    return focus
