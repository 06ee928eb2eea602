"""The image pipe as a library call: read, find depth and focus, compute the CoC map, render, write.

`refocus_image_file` refocuses a whole image; it is importable and usable on its own. `refocus image` runs
`image_job.refocus_image`, which calls it when the job fits the memory budget and renders in tiles otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.autofocus import focus_from_depth, focus_from_photo
from refocus_cli.depth.embedded import EMBEDDED_FORMATS, read_embedded_depth
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.depth.two_plane import SubjectHint, two_plane_depth
from refocus_cli.errors import DepthUnavailableError, InputError, OutputError, SettingsError
from refocus_cli.highlights import HighlightSettings, boost_highlights
from refocus_cli.io.camera_exif import GENERATED_BY
from refocus_cli.io.depth_files import DepthMap, read_depth_file
from refocus_cli.io.depth_output import save_depth
from refocus_cli.io.images import LoadedImage, output_bit_depth, read_image, write_image
from refocus_cli.lens import (
    CameraSettings,
    PartialCamera,
    camera_from_exif,
    physical_signed_coc_px,
    signed_coc_px,
)
from refocus_cli.render.layered import render_layered
from refocus_cli.render.planes import settings_for_quality


@dataclass(frozen=True)
class FocusSpec:
    """Where to focus: a pixel (x, y), a box (x, y, w, h), or a disparity; nothing = auto-focus."""

    point_xy: tuple[float, float] | None = None
    box_xywh: tuple[float, float, float, float] | None = None
    disparity: float | None = None


@dataclass(frozen=True)
class ImageRequest:
    """One image to refocus.  Exactly one of `blur_k_px` (relative blur) or a physical `camera` applies:
    `blur_k_px` None means physical mode, completed from the photo's EXIF."""

    input_path: Path
    output_path: Path
    depth_path: Path | None = None
    depth_kind: str = "auto"
    focus: FocusSpec = field(default_factory=FocusSpec)
    blur_k_px: float | None = 8.0
    camera: PartialCamera = field(default_factory=PartialCamera)
    aperture: ApertureShape = field(default_factory=ApertureShape)
    highlights: HighlightSettings = field(default_factory=HighlightSettings)
    quality: str = "fast"
    depth_source: str = "auto"
    depth_model: str = DEFAULT_DEPTH_MODEL
    offline: bool = False
    restore: str = "off"
    save_depth: bool = False
    save_depth_npy: bool = False
    device: str = "auto"
    overwrite: bool = False
    engine: str = "physics"
    model: str | None = None
    lens_from_photo: bool = False
    """`blur_k_px` is only the default: an image `refocus generate` wrote is refocused with the lens its EXIF
    records (physical mode) when its depth is metric."""


@dataclass(frozen=True)
class ImageResult:
    """What was done to one image; `to_record()` is its `--json` line."""

    input_path: Path
    output_path: Path
    width: int
    height: int
    depth_source: str
    focus_disparity: float
    focus_rule: str
    blur_k_px: float | None
    camera: CameraSettings | None
    max_coc_radius_px: float
    device: str
    timings_s: dict[str, float]
    aperture: ApertureShape = field(default_factory=ApertureShape)
    highlights: HighlightSettings = field(default_factory=HighlightSettings)
    quality: str = "fast"
    notes: tuple[str, ...] = ()
    focus_point_xy: tuple[float, float] | None = None
    restore: dict[str, Any] | None = None
    engine: str = "physics"

    def to_record(self) -> dict[str, Any]:
        return {
            "input": str(self.input_path),
            "output": str(self.output_path),
            "width": self.width,
            "height": self.height,
            "depth_source": self.depth_source,
            "focus_disparity": round(self.focus_disparity, 6),
            "focus_rule": self.focus_rule,
            "focus_point": None if self.focus_point_xy is None else [round(v, 1) for v in self.focus_point_xy],
            "blur": self.blur_k_px,
            "camera": None if self.camera is None else vars(self.camera),
            "max_coc_radius_px": round(self.max_coc_radius_px, 3),
            "aperture": {
                "kind": self.aperture.kind,
                "blades": self.aperture.blades if self.aperture.kind == "polygon" else None,
                "rotation_deg": self.aperture.rotation_deg,
                "aspect": self.aperture.aspect,
            },
            "highlights": {"boost": self.highlights.boost, "threshold": self.highlights.threshold},
            "quality": self.quality,
            "engine": self.engine,
            "restore": self.restore,
            "notes": list(self.notes),
            "device": self.device,
            "timings_s": {name: round(seconds, 4) for name, seconds in self.timings_s.items()},
        }


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else the CPU; asking for CUDA without one is a SettingsError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda asked for, but no CUDA device is available (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise SettingsError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


DEPTH_SOURCES = ("auto", "file", "embedded", "model", "defocus", "two-plane")
"""Values of ImageRequest.depth_source: `auto` tries a depth file, then depth embedded in the photo, then the
learned model, then the photo's own defocus (when its edges show blur), then the two-plane approximation; the
others force one of them."""
RESTORE_MODES = ("auto", "on", "off")
ENGINES = ("physics", "learned")

_UNAVAILABLE_MODELS: dict[tuple[str, bool], str] = {}
"""Models that failed to load in this process (name, offline) -> why: a batch tries each once."""


def load_depth(request: ImageRequest, loaded: LoadedImage) -> tuple[DepthMap, list[str]]:
    """The depth for an image and notes for the user: the user's file, else depth embedded in the photo, else
    the learned model's estimate, else an approximate two-plane depth built around the focus point (said so
    in a note).

    Raises:
        RefocusError: a forced source that fails (one line saying why), or a bad depth file.
    """
    size_hw = (loaded.height, loaded.width)
    source = request.depth_source
    if source not in DEPTH_SOURCES:
        raise SettingsError(f"--depth source must be a file or one of {', '.join(DEPTH_SOURCES[2:])}, got {source!r}")
    if request.depth_path is not None and source in ("auto", "file"):
        return read_depth_file(request.depth_path, kind=request.depth_kind, size_hw=size_hw), []
    if source == "file":
        raise SettingsError("--depth file needs a depth file: pass its path with --depth")
    tried = ["a depth file: none given"]
    if source in ("auto", "embedded"):
        embedded = read_embedded_depth(request.input_path, size_hw)
        if embedded is not None:
            return embedded, []
        if source == "embedded":
            raise DepthUnavailableError(
                f"{request.input_path}: holds no depth ({EMBEDDED_FORMATS}), as --depth embedded requires"
            )
        tried.append(f"depth embedded in the photo as {EMBEDDED_FORMATS}: none")
    if source in ("auto", "model"):
        try:
            return _model_depth(request, loaded), []
        except DepthUnavailableError as error:
            if source == "model":
                raise
            tried.append(f"the learned model: {error}")
    focus_window(request.focus, request.input_path, size_hw)  # a focus outside the image fails before any work
    if source in ("auto", "defocus"):
        from refocus_cli.depth.defocus import defocus_depth, estimate_edge_blur, shows_defocus

        edges = estimate_edge_blur(loaded.linear)
        if source == "defocus" or shows_defocus(edges):
            return defocus_depth(loaded.linear, subject_hint(request.focus, size_hw).point_xy, edges), []
        tried.append("the photo's own defocus: too little blur at its edges")
    notes = []
    if source == "auto":
        notes.append(
            f"{request.input_path}: no depth map (tried {'; '.join(tried)}), so the depth is an approximation: "
            "the subject under the focus point in front of a receding background; pass --depth FILE for a real one"
        )
    return two_plane_depth(loaded.linear, subject_hint(request.focus, size_hw)), notes


def _model_depth(request: ImageRequest, loaded: LoadedImage) -> DepthMap:
    """The learned estimator's depth; a model that failed once in this process is not tried again."""
    from refocus_cli.depth.learned import estimate_depth

    key = (request.depth_model, request.offline)
    if key in _UNAVAILABLE_MODELS:
        raise DepthUnavailableError(_UNAVAILABLE_MODELS[key])
    device = resolve_device(request.device)
    try:
        depth = estimate_depth(loaded.linear.to(device), request.depth_model, device=device, offline=request.offline)
    except DepthUnavailableError as error:
        _UNAVAILABLE_MODELS[key] = str(error)
        raise
    metric = None if depth.metric_depth_m is None else depth.metric_depth_m.cpu()
    return replace(depth, disparity=depth.disparity.cpu(), metric_depth_m=metric)


def subject_hint(focus: FocusSpec, size_hw: tuple[int, int]) -> SubjectHint:
    """The focus request as a hint for segmenting the subject (the frame's centre without a point or box)."""
    h, w = size_hw
    if focus.box_xywh is not None:
        x, y, bw, bh = focus.box_xywh
        return SubjectHint((x + bw / 2, y + bh / 2), focus.box_xywh)
    if focus.point_xy is not None:
        return SubjectHint(focus.point_xy)
    return SubjectHint((w / 2, h / 2))


def focus_window(focus: FocusSpec, path: Path, size_hw: tuple[int, int]) -> tuple[slice, slice, str]:
    """Rows and columns whose depth decides the focus, and the rule used (for --json)."""
    h, w = size_hw
    if focus.box_xywh is not None:
        x, y, bw, bh = focus.box_xywh
        if bw <= 0 or bh <= 0 or x < 0 or y < 0 or x + bw > w or y + bh > h:
            raise InputError(path, f"--focus box {x:g},{y:g},{bw:g},{bh:g} is not inside the image ({w}x{h})")
        return slice(int(y), max(int(y) + 1, int(y + bh))), slice(int(x), max(int(x) + 1, int(x + bw))), "box"
    if focus.point_xy is not None:
        x, y = focus.point_xy
        if not (0 <= x < w and 0 <= y < h):
            raise InputError(path, f"--focus point {x:g},{y:g} is outside the image ({w}x{h})")
        half = max(2, round(0.01 * min(h, w)))
        rows = slice(max(0, int(y) - half), min(h, int(y) + half + 1))
        return rows, slice(max(0, int(x) - half), min(w, int(x) + half + 1)), "point"
    # No focus given: the central tenth of the frame (the depth issue brings subject detection).
    return (
        slice(int(0.45 * h), max(int(0.45 * h) + 1, int(0.55 * h))),
        slice(int(0.45 * w), max(int(0.45 * w) + 1, int(0.55 * w))),
        "centre",
    )


def focus_disparity_of(depth: DepthMap, focus: FocusSpec, path: Path) -> tuple[float, str]:
    """The disparity to focus on: given directly, or the median depth in the focus window."""
    if focus.disparity is not None:
        if not 0.0 <= focus.disparity <= 1.0:
            raise SettingsError(f"--focus-depth must be a disparity between 0 and 1, got {focus.disparity}")
        return focus.disparity, "focus-depth"
    h, w = depth.disparity.shape[-2:]
    rows, cols, rule = focus_window(focus, path, (int(h), int(w)))
    return float(depth.disparity[0, 0, rows, cols].median()), rule


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
    camera = partial.complete()
    coc = physical_signed_coc_px(depth.metric_depth_m, camera, loaded.width)
    return coc, focus_disparity, rule, camera


def metric_focus_distance(depth_m: torch.Tensor, focus: FocusSpec, path: Path) -> float:
    """Metric focus distance (m) for a focus request: the median depth [1,1,H,W] in its window.

    Raises:
        SettingsError: the request is a disparity (--focus-depth), which has no distance.
        InputError: the point or box lies outside the image (named by `path`).
    """
    if focus.disparity is not None:
        raise SettingsError("--focus-depth takes a disparity; in physical mode give --focus-distance in metres")
    rows, cols, _ = focus_window(focus, path, tuple(depth_m.shape[-2:]))  # type: ignore[arg-type]
    return float(depth_m[0, 0, rows, cols].median())


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


def refocus_image_file(request: ImageRequest) -> ImageResult:
    """Refocus one image file and write the result atomically.  Raises RefocusError on bad input."""
    timings: dict[str, float] = {}
    start = _now()
    device = resolve_device(request.device)
    if request.output_path.resolve() == request.input_path.resolve():
        raise OutputError(request.output_path, "would overwrite an input; choose another output name")
    loaded = read_image(request.input_path)
    request, photo_rule = with_photo_focus(request, loaded)
    depth, notes = load_depth(request, loaded)
    request = with_recorded_lens(request, loaded, depth, notes)
    request, auto_rule = with_depth_focus(request, loaded, depth)
    timings["read"] = _now() - start

    start = _now()
    sharp, restore_record = restored_photo(request, loaded, depth)
    if restore_record is not None:
        timings["restore"] = _now() - start
        start = _now()
    coc, focus_disparity, rule, camera = coc_map(request, loaded, depth)
    rule = auto_rule or photo_rule or rule
    image = boost_highlights(sharp, coc, request.highlights)
    with torch.no_grad():
        rendered = render_with_engine(request, image, depth.disparity, coc, focus_disparity, device)
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
    return ImageResult(
        input_path=request.input_path,
        output_path=request.output_path,
        width=loaded.width,
        height=loaded.height,
        depth_source=depth.source,
        focus_disparity=focus_disparity,
        focus_rule=rule,
        focus_point_xy=request.focus.point_xy,
        blur_k_px=request.blur_k_px,
        camera=camera,
        max_coc_radius_px=float(coc.abs().max()),
        device=str(device),
        timings_s=timings,
        aperture=request.aperture,
        highlights=request.highlights,
        quality=request.quality,
        notes=tuple(notes),
        restore=restore_record,
        engine=request.engine,
    )


def render_with_engine(
    request: ImageRequest,
    image: torch.Tensor,
    disparity: torch.Tensor,
    coc: torch.Tensor,
    focus_disparity: float,
    device: torch.device,
) -> torch.Tensor:
    """[1,3,H,W] linear: the physics engine from the CoC map, or the learned engine from the disparity, the
    focus and K (in physical mode the K that best fits the camera's CoC map)."""
    if request.engine not in ENGINES:
        raise SettingsError(f"--engine must be physics or learned, got {request.engine!r}")
    if request.engine == "learned":
        from refocus_cli.learned.engine import equivalent_blur_k, learned_render

        k = request.blur_k_px
        if k is None:
            k = equivalent_blur_k(coc, disparity, focus_disparity)
        return learned_render(image, disparity, focus_disparity, k, model=request.model, device=device)
    settings = settings_for_quality(request.quality)
    return render_layered(image.to(device), coc.to(device), request.aperture, settings).cpu()


def restored_photo(
    request: ImageRequest, loaded: LoadedImage, depth: DepthMap
) -> tuple[torch.Tensor, dict[str, Any] | None]:
    """The photo to render from: as read (`--restore off`), or its all-in-focus estimate (`on`; `auto` only
    when the fitted blur of the photo is worth undoing), with what restore found for --json."""
    if request.restore not in RESTORE_MODES:
        raise SettingsError(f"--restore must be one of {', '.join(RESTORE_MODES)}, got {request.restore!r}")
    if request.restore == "off":
        return loaded.linear, None
    from refocus_cli.restore.pipeline import restore_all_in_focus

    result = restore_all_in_focus(loaded.linear, depth.disparity, mode="always" if request.restore == "on" else "auto")
    fitted = result.photo_defocus
    return result.all_in_focus, {
        "mode": request.restore,
        "restored": result.restored,
        "photo_blur_k_px": round(fitted.k0_px, 3),
        "photo_focus_disparity": round(fitted.focus_disparity, 4),
    }


def _now() -> float:
    return time.perf_counter()
