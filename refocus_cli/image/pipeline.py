"""The image job as a library call: read, find depth and focus, compute the CoC map, restore, render, write.

`refocus_image_file` is what `refocus image` runs for each input; it is importable and usable on its own.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from refocus_cli.autofocus import focus_from_depth, focus_from_photo
from refocus_cli.depth.choose import DepthRequest, choose_depth
from refocus_cli.devices import resolve_device
from refocus_cli.engines import added_coc_px, render_refocus, restore_step
from refocus_cli.errors import SettingsError
from refocus_cli.focus import FocusSpec, focus_disparity_of, metric_focus_distance
from refocus_cli.highlights import boost_highlights
from refocus_cli.image.request import ImageRequest, ImageResult
from refocus_cli.io.camera_exif import GENERATED_BY
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.io.depth_output import depth_paths, save_depth
from refocus_cli.io.images import LoadedImage, output_bit_depth, read_image, write_image
from refocus_cli.io.run_paths import RunPaths, check_run_paths
from refocus_cli.lens import (
    CameraSettings,
    PartialCamera,
    camera_from_exif,
    physical_signed_coc_px,
    signed_coc_px,
)

__all__ = ["ImageRequest", "ImageResult", "refocus_image_file"]


def coc_map(
    request: ImageRequest, loaded: LoadedImage, depth: DepthMap
) -> tuple[torch.Tensor, float, str, CameraSettings | None]:
    """Signed CoC [1,1,H,W] in pixels, focus disparity, focus rule and the camera (physical mode)."""
    focus_disparity, rule = focus_disparity_of(depth, request.focus, request.input_path)
    if request.blur_k_px is not None:
        return signed_coc_px(depth.disparity, focus_disparity, request.blur_k_px), focus_disparity, rule, None
    if depth.metric_depth_m is None:
        raise SettingsError(
            f"{request.input_path}: physical blur needs metric depth; give a depth map in metres "
            "(float TIFF or .npy, --depth-kind depth) or use --blur K"
        )
    partial = camera_from_exif(loaded.camera_tags).overridden_by(request.camera)
    # Focus distance: the option, else the depth at the focus the user chose, else EXIF, else the centre.
    if request.camera.focus_distance_m is None and (request.focus != FocusSpec() or partial.focus_distance_m is None):
        focus_m = metric_focus_distance(depth.metric_depth_m, request.focus, request.input_path)
        partial = partial.overridden_by(PartialCamera(focus_distance_m=focus_m))
    try:
        camera = partial.complete()
    except SettingsError as error:  # the photo's EXIF had its part in the settings: name the photo
        raise SettingsError(f"{request.input_path}: {error}") from error
    coc = physical_signed_coc_px(depth.metric_depth_m, camera, loaded.width)
    return coc, focus_disparity, rule, camera


def with_photo_focus(request: ImageRequest, loaded: LoadedImage) -> tuple[ImageRequest, str | None]:
    """Without a focus from the user: the focal point the camera recorded, if the photo has one."""
    if request.focus != FocusSpec():
        return request, None
    recorded = focus_from_photo(request.input_path, (loaded.height, loaded.width))
    if recorded is None:
        return request, None
    return replace(request, focus=FocusSpec(point_xy=recorded.point_xy)), recorded.rule


def with_recorded_lens(request: ImageRequest, loaded: LoadedImage, depth: DepthMap, notes: list[str]) -> ImageRequest:
    """Physical mode with the recorded lens for an image `refocus generate` wrote (EXIF Software), when no blur was
    asked for, its EXIF has the f-number and focal length, and its depth is metric (the GDepth it carries)."""
    tags = camera_from_exif(loaded.camera_tags)
    recorded = tags.f_number is not None and tags.focal_length_mm is not None and depth.metric_depth_m is not None
    if not (request.lens_from_photo and loaded.software == GENERATED_BY and recorded):
        return request
    notes.append(
        f"blur: the lens {loaded.path.name} was made with (EXIF), f/{tags.f_number:g} {tags.focal_length_mm:g} mm"
    )
    return replace(request, blur_k_px=None)


def with_depth_focus(request: ImageRequest, loaded: LoadedImage, depth: DepthMap) -> tuple[ImageRequest, str | None]:
    """Still no focus: the photo's EXIF focus distance in physical mode, else the auto-focus rule on the
    depth map (not on an approximate depth, which is built around the centre already)."""
    if request.focus != FocusSpec():
        return request, None
    if request.blur_k_px is None and camera_from_exif(loaded.camera_tags).focus_distance_m is not None:
        return request, "photo: EXIF SubjectDistance"
    if depth.source.startswith("approximate"):
        return request, None
    chosen = focus_from_depth(depth.disparity)
    return replace(request, focus=FocusSpec(point_xy=chosen.point_xy)), chosen.rule


def request_paths(request: ImageRequest) -> RunPaths:
    """What refocusing one image reads (photo, depth file, aperture kernel is read already) and writes (the
    output and the depth files asked for), for the one overlap rule."""
    reads = (request.input_path,) if request.depth_path is None else (request.input_path, request.depth_path)
    writes = [request.output_path]
    if request.save_depth or request.save_depth_npy:
        writes += depth_paths(request.output_path, with_npy=request.save_depth_npy)
    return RunPaths(reads=reads, writes=tuple(writes))


def depth_request(request: ImageRequest) -> DepthRequest:
    """What depth the image request asks for, in the terms of the one source order (`depth.choose`)."""
    return DepthRequest(
        input_path=request.input_path,
        depth_path=request.depth_path,
        depth_kind=request.depth_kind,
        source=request.depth_source,
        model=request.depth_model,
        offline=request.offline,
        device=request.device,
    )


def refocus_image_file(request: ImageRequest) -> ImageResult:
    """Refocus one image file and write the result atomically.  Raises RefocusError on bad input."""
    timings: dict[str, float] = {}
    start = _now()
    device = resolve_device(request.device)
    check_run_paths(request_paths(request), overwrite=request.overwrite)
    loaded = read_image(request.input_path)
    request, photo_rule = with_photo_focus(request, loaded)
    depth, depth_notes = choose_depth(depth_request(request), loaded, request.focus)
    notes = [*loaded.notes, *depth_notes]  # EXIF fields ignored as malformed, then how the depth was found
    request = with_recorded_lens(request, loaded, depth, notes)
    request, auto_rule = with_depth_focus(request, loaded, depth)
    timings["read"] = _now() - start

    start = _now()
    restored = restore_step(loaded.linear, depth.disparity, request.restore)
    if restored.photo_defocus is not None:
        timings["restore"] = _now() - start
        start = _now()
        from refocus_cli.restore.exif_check import exif_blur_note

        lens_note = exif_blur_note(
            restored.photo_defocus, loaded.camera_tags, depth.disparity, depth.metric_depth_m, loaded.width
        )
        notes.extend([f"{request.input_path}: {lens_note}"] if lens_note else [])
    coc, focus_disparity, rule, camera = coc_map(request, loaded, depth)
    rule = auto_rule or photo_rule or rule
    added = added_coc_px(coc, restored.residual_radius_px)  # [1,1,H,W]: the blur the photo does not hold yet
    image = boost_highlights(restored.image, added, request.highlights)
    with torch.no_grad():
        rendered = render_refocus(
            request.engine,
            image,
            depth.disparity,
            added,
            focus_disparity,
            request.blur_k_px,
            aperture=request.aperture,
            quality=request.quality,
            model=request.model,
            device=device,
        )
    timings["render"] = _now() - start

    start = _now()
    write_image(
        request.output_path,
        rendered,
        bit_depth=output_bit_depth(loaded.bit_depth, request.output_path),
        exif=loaded.exif,
        icc_profile=loaded.icc_profile,
        overwrite=request.overwrite,
    )
    if request.save_depth or request.save_depth_npy:
        save_depth(depth, request.output_path, with_npy=request.save_depth_npy, overwrite=request.overwrite)
    timings["write"] = _now() - start
    return ImageResult.of(
        request,
        (loaded.width, loaded.height),
        depth_source=depth.source,
        focus_disparity=focus_disparity,
        focus_rule=rule,
        camera=camera,
        max_coc_radius_px=float(coc.abs().max()),
        device=str(device),
        timings_s=timings,
        notes=tuple(notes),
        restore=restored.record,
    )


def _now() -> float:
    return time.perf_counter()
