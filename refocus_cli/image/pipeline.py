"""The image job as a library call: read, find depth and focus, compute the CoC map, restore, render, write.

`refocus_image_file` is what `refocus image` runs for each input; it is importable and usable on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from refocus_cli.autofocus import focus_from_depth, focus_from_photo
from refocus_cli.depth.choose import DepthRequest, choose_depth
from refocus_cli.depth.placement import Placement, focus_distance_choice, inverse_depth_per_m, placement
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
    FULL_FRAME_WIDTH_MM,
    CameraSettings,
    PartialCamera,
    camera_from_exif,
    inverse_depth_signed_coc_px,
    physical_signed_coc_px,
    signed_coc_px,
)

__all__ = ["CocMap", "ImageRequest", "ImageResult", "refocus_image_file"]


@dataclass(frozen=True)
class CocMap:
    """The blur to render and how it was decided.

    Attributes:
        coc: [1,1,H,W] signed CoC radius in pixels (positive = nearer than focus).
        focus_disparity: the disparity in focus, in [0, 1].
        rule: the focus rule (for --json).
        camera: the camera of physical mode, else None.
        placement: how relative depth was placed in metres for physical mode, else None.
    """

    coc: torch.Tensor
    focus_disparity: float
    rule: str
    camera: CameraSettings | None = None
    placement: Placement | None = None

    def metric_depth_record(self) -> dict[str, Any] | None:
        """--json "metric_depth": the placement, {"source": "depth"} for metric depth, None for relative blur."""
        if self.placement is not None:
            return self.placement.to_record()
        return None if self.camera is None else {"source": "depth"}


def check_camera_terms(request: ImageRequest, loaded: LoadedImage) -> None:
    """Physical mode's refusals that need no pixels, before any depth is found: a missing f-number or focal
    length (not given, not in the EXIF), a given focus distance not beyond the focal length."""
    if request.blur_k_px is None:
        try:
            camera_from_exif(loaded.camera_tags).overridden_by(request.camera).check_known()
        except SettingsError as error:  # the photo's EXIF had its part in the settings: name the photo
            raise SettingsError(f"{request.input_path}: {error}") from error


def coc_map(request: ImageRequest, loaded: LoadedImage, depth: DepthMap) -> CocMap:
    """Signed CoC in pixels, with the focus disparity, the focus rule, and the camera (physical mode)."""
    focus_disparity, rule = focus_disparity_of(depth, request.focus, request.input_path)
    if request.blur_k_px is not None:
        return CocMap(signed_coc_px(depth.disparity, focus_disparity, request.blur_k_px), focus_disparity, rule)
    if depth.metric_depth_m is None:
        return placed_coc_map(request, loaded, depth.disparity, focus_disparity, rule)
    partial = camera_from_exif(loaded.camera_tags).overridden_by(request.camera)
    # Focus distance: the option, else the depth at the focus the user chose, else EXIF, else the centre.
    if request.camera.focus_distance_m is None and (request.focus != FocusSpec() or partial.focus_distance_m is None):
        focus_m = metric_focus_distance(depth.metric_depth_m, request.focus, request.input_path)
        partial = partial.overridden_by(PartialCamera(focus_distance_m=focus_m))
    camera = completed(partial, request)
    coc = physical_signed_coc_px(depth.metric_depth_m, camera, loaded.width)
    return CocMap(coc, focus_disparity, rule, camera)


def placed_coc_map(
    request: ImageRequest, loaded: LoadedImage, disparity: torch.Tensor, focus_disparity: float, rule: str
) -> CocMap:
    """Physical mode on relative disparity [1,1,H,W]: the depth placed in metres (`depth.placement`) with the
    focus disparity at the focus distance given, recorded (EXIF) or assumed from the framing."""
    exif = camera_from_exif(loaded.camera_tags)
    partial = exif.overridden_by(request.camera)
    partial.check_known()
    assert partial.f_number is not None and partial.focal_length_mm is not None  # check_known says so
    sensor_width_mm = partial.sensor_width_mm or FULL_FRAME_WIDTH_MM
    given_m = request.camera.focus_distance_m
    focus_m, why = focus_distance_choice(given_m, exif.focus_distance_m, partial.focal_length_mm, sensor_width_mm)
    camera = completed(partial.overridden_by(PartialCamera(focus_distance_m=focus_m)), request)
    placed = placement(focus_disparity, focus_m, why)
    inverse_m = inverse_depth_per_m(disparity, focus_disparity, focus_m)  # [1,1,H,W] 1/m, 0 = infinity
    return CocMap(inverse_depth_signed_coc_px(inverse_m, camera, loaded.width), focus_disparity, rule, camera, placed)


def completed(partial: PartialCamera, request: ImageRequest) -> CameraSettings:
    """`partial.complete()`, its refusal naming the photo (whose EXIF had its part in the settings)."""
    try:
        return partial.complete()
    except SettingsError as error:
        raise SettingsError(f"{request.input_path}: {error}") from error


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
    """Still no focus: the photo's EXIF focus distance in physical mode with metric depth, else the auto-focus
    rule on the depth map (not on an approximate depth, which is built around the centre already); relative depth
    in physical mode is placed with the auto-focus subject at the EXIF distance."""
    if request.focus != FocusSpec():
        return request, None
    exif_focus_m = camera_from_exif(loaded.camera_tags).focus_distance_m
    if request.blur_k_px is None and exif_focus_m is not None and depth.metric_depth_m is not None:
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
    check_camera_terms(request, loaded)
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
    blur = coc_map(request, loaded, depth)
    notes.extend([f"{request.input_path}: {blur.placement.note()}"] if blur.placement else [])
    added = added_coc_px(blur.coc, restored.residual_radius_px)  # [1,1,H,W]: the blur the photo does not hold yet
    image = boost_highlights(restored.image, added, request.highlights)
    with torch.no_grad():
        rendered = render_refocus(
            request.engine,
            image,
            depth.disparity,
            added,
            blur.focus_disparity,
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
        focus_disparity=blur.focus_disparity,
        focus_rule=auto_rule or photo_rule or blur.rule,
        camera=blur.camera,
        metric_depth=blur.metric_depth_record(),
        max_coc_radius_px=float(blur.coc.abs().max()),
        device=str(device),
        timings_s=timings,
        notes=tuple(notes),
        restore=restored.record,
    )


def _now() -> float:
    return time.perf_counter()
