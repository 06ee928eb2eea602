"""The image job's request and result: one photo to refocus (`ImageRequest`) and what was done to it
(`ImageResult`, whose `to_record()` is its `--json` line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refocus_cli.aperture import ApertureShape
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.errors import SettingsError
from refocus_cli.focus import FocusSpec
from refocus_cli.highlights import HighlightSettings
from refocus_cli.lens import CameraSettings, PartialCamera, check_blur_k
from refocus_cli.modes import DepthKind, DepthSource, Device, Engine, Quality, Restore, as_mode

MODE_FIELDS = (
    ("depth_kind", DepthKind, "--depth-kind"),
    ("quality", Quality, "--quality"),
    ("depth_source", DepthSource, "--depth source"),
    ("restore", Restore, "--restore"),
    ("device", Device, "--device"),
    ("engine", Engine, "--engine"),
)


@dataclass(frozen=True)
class ImageRequest:
    """One image to refocus.  Exactly one of `blur_k_px` (relative blur) or a physical `camera` applies:
    `blur_k_px` None means physical mode, completed from the photo's EXIF."""

    input_path: Path
    output_path: Path
    depth_path: Path | None = None
    depth_kind: DepthKind = DepthKind.auto
    focus: FocusSpec = field(default_factory=FocusSpec)
    blur_k_px: float | None = 8.0
    camera: PartialCamera = field(default_factory=PartialCamera)
    aperture: ApertureShape = field(default_factory=ApertureShape)
    highlights: HighlightSettings = field(default_factory=HighlightSettings)
    quality: Quality = Quality.fast
    depth_source: DepthSource = DepthSource.auto
    depth_model: str = DEFAULT_DEPTH_MODEL
    offline: bool = False
    restore: Restore = Restore.off
    save_depth: bool = False
    save_depth_npy: bool = False
    device: Device = Device.auto
    overwrite: bool = False
    engine: Engine = Engine.physics
    model: str | None = None
    lens_from_photo: bool = False
    """`blur_k_px` is only the default: an image `refocus generate` wrote is refocused with the lens its EXIF
    records (physical mode) when its depth is metric."""

    def __post_init__(self) -> None:
        self.check_inputs()

    def check_inputs(self) -> None:
        """Every mode as its enum (a mode given as text is turned into one), or one line naming the option: run
        when the request is made, so a misspelt mode is refused before any pixel is read."""
        for name, kind, option in MODE_FIELDS:
            object.__setattr__(self, name, as_mode(kind, getattr(self, name), option))
        if self.blur_k_px is not None:
            check_blur_k(self.blur_k_px)
        if self.depth_source is DepthSource.file and self.depth_path is None:
            raise SettingsError("--depth file needs a depth file: pass its path with --depth")


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
    metric_depth: dict[str, Any] | None = None
    """Physical mode's metres: {"source": "depth"} from the depth map, or how relative depth was placed
    (`depth.placement.Placement.to_record`); None with relative blur."""

    @classmethod
    def of(
        cls,
        request: ImageRequest,
        size_wh: tuple[int, int],
        *,
        depth_source: str,
        focus_disparity: float,
        focus_rule: str,
        camera: CameraSettings | None,
        max_coc_radius_px: float,
        device: str,
        timings_s: dict[str, float],
        notes: tuple[str, ...],
        restore: dict[str, Any] | None = None,
        metric_depth: dict[str, Any] | None = None,
    ) -> ImageResult:
        """The result of `request`: what it asked for (paths, blur, lens shape, quality, engine, focus point) with
        what the run found."""
        return cls(
            input_path=request.input_path,
            output_path=request.output_path,
            width=size_wh[0],
            height=size_wh[1],
            depth_source=depth_source,
            focus_disparity=focus_disparity,
            focus_rule=focus_rule,
            blur_k_px=request.blur_k_px,
            camera=camera,
            max_coc_radius_px=max_coc_radius_px,
            device=device,
            timings_s=timings_s,
            aperture=request.aperture,
            highlights=request.highlights,
            quality=request.quality,
            notes=notes,
            focus_point_xy=request.focus.point_xy,
            restore=restore,
            engine=request.engine,
            metric_depth=metric_depth,
        )

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
            "metric_depth": self.metric_depth,
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
