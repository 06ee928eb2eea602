"""`refocus image`: refocus photos with a depth map, one or many, on any focus point with any blur."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from refocus_cli.commands.inputs import check_outputs, depth_for, expand_inputs, output_path_for
from refocus_cli.config import PRESET_KEYS, Config, load_config
from refocus_cli.errors import OutputError, RefocusError, SettingsError

if TYPE_CHECKING:
    from refocus_cli.aperture import ApertureShape
    from refocus_cli.pipeline import FocusSpec, ImageRequest

FORCED_DEPTH_SOURCES = ("embedded", "two-plane")
DEPTH, FOCUS, BLUR, APERTURE, OUTPUT, RUNTIME = "Depth", "Focus", "Blur", "Aperture", "Output", "Runtime"


class DepthKind(str, Enum):
    auto = "auto"
    depth = "depth"
    disparity = "disparity"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Quality(str, Enum):
    fast = "fast"
    fine = "fine"


class OutputFormat(str, Enum):
    jpg = "jpg"
    png = "png"
    tif = "tif"
    webp = "webp"


@dataclass(frozen=True)
class Failure:
    """An input that could not be refocused, and why (one line)."""

    source: Path
    message: str


def parse_focus(text: str | None) -> FocusSpec:
    """`X,Y` (a point) or `X,Y,W,H` (a box), in pixels of the photo as displayed."""
    from refocus_cli.pipeline import FocusSpec

    if text is None:
        return FocusSpec()
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) == 2:
        return FocusSpec(point_xy=(numbers[0], numbers[1]))
    if len(numbers) == 4:
        return FocusSpec(box_xywh=(numbers[0], numbers[1], numbers[2], numbers[3]))
    raise typer.BadParameter(f"expected X,Y or X,Y,W,H in pixels, got {text!r}", param_hint="--focus")


def aperture_from(name: str | None, blades: int | None, rotation: float, aspect: float) -> ApertureShape:
    """disc, polygon (also implied by --blades) or the path of a kernel image."""
    from refocus_cli.aperture import ApertureShape

    if name is None:
        name = "polygon" if blades is not None else "disc"
    if name == "disc":
        return ApertureShape("disc", rotation_deg=rotation, aspect=aspect)
    if name == "polygon":
        return ApertureShape("polygon", blades=blades or 6, rotation_deg=rotation, aspect=aspect)
    from refocus_cli.io.images import read_image

    kernel = read_image(Path(name)).linear[0].mean(dim=0)
    return ApertureShape("custom", rotation_deg=rotation, aspect=aspect, custom=kernel)


def physical_camera(options: dict[str, float | None], preset: dict[str, float]) -> Any:
    """PartialCamera from a preset with the explicit physical options on top."""
    from refocus_cli.lens import PartialCamera

    values = {PRESET_KEYS[key]: value for key, value in preset.items()}
    values.update({PRESET_KEYS[key]: value for key, value in options.items() if value is not None})
    return PartialCamera(**values)


def _default(value: Any, config: Config, key: str, builtin: Any) -> Any:
    """The option if given, else the config's [image] value, else the built-in default."""
    if value is not None:
        return value
    return config.image.get(key, builtin)


def image_command(
    inputs: Annotated[list[str], typer.Argument(help="Photos: files, globs or folders.", show_default=False)],
    depth: Annotated[
        Path | None,
        typer.Option(
            help="Depth map (8/16-bit PNG, float TIFF, .npy, .pfm); a folder of <stem>.* for batches; or a source "
            "to force: embedded (depth stored in the photo) or two-plane (the approximation).",
            rich_help_panel=DEPTH,
        ),
    ] = None,
    save_depth: Annotated[
        bool,
        typer.Option(
            help="Also write the depth used: <output>-depth.png (16-bit) and a colour preview.", rich_help_panel=DEPTH
        ),
    ] = False,
    save_depth_npy: Annotated[
        bool, typer.Option(help="Also write the depth used as <output>-depth.npy (float32).", rich_help_panel=DEPTH)
    ] = False,
    depth_kind: Annotated[
        DepthKind | None,
        typer.Option(
            help="What the depth file holds (default: auto: disparity for integer images and .pfm, "
            "metres for float TIFF and .npy).",
            rich_help_panel=DEPTH,
            show_default=False,
        ),
    ] = None,
    focus: Annotated[
        str | None,
        typer.Option(
            help="Focus on pixel X,Y or on the box X,Y,W,H (origin top-left). (default: centre)",
            rich_help_panel=FOCUS,
            show_default=False,
        ),
    ] = None,
    focus_depth: Annotated[
        float | None, typer.Option(help="Focus on this disparity (0 = farthest, 1 = nearest).", rich_help_panel=FOCUS)
    ] = None,
    blur: Annotated[
        float | None,
        typer.Option(
            help="CoC radius in pixels per unit disparity difference: r = K * |d - d_focus|. (default: 8)",
            rich_help_panel=BLUR,
            show_default=False,
        ),
    ] = None,
    fnumber: Annotated[float | None, typer.Option(help="Physical mode: f-number.", rich_help_panel=BLUR)] = None,
    focal_length: Annotated[
        float | None, typer.Option(help="Physical mode: focal length, mm.", rich_help_panel=BLUR)
    ] = None,
    sensor_width: Annotated[
        float | None,
        typer.Option(help="Physical mode: sensor width, mm (default: from EXIF, else 36).", rich_help_panel=BLUR),
    ] = None,
    focus_distance: Annotated[
        float | None,
        typer.Option(
            help="Physical mode: focus distance, m (default: depth at --focus, else EXIF).", rich_help_panel=BLUR
        ),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="Physical mode: a named lens (portrait-85, phone, ...).", rich_help_panel=BLUR)
    ] = None,
    aperture: Annotated[
        str | None,
        typer.Option(
            help="disc, polygon, or a kernel image file. (default: disc)", rich_help_panel=APERTURE, show_default=False
        ),
    ] = None,
    blades: Annotated[
        int | None,
        typer.Option(help="Iris blades (implies polygon). (default: 6)", rich_help_panel=APERTURE, show_default=False),
    ] = None,
    rotation: Annotated[
        float | None, typer.Option(help="Aperture rotation, degrees.", rich_help_panel=APERTURE)
    ] = None,
    aspect: Annotated[
        float | None, typer.Option(help="Aperture width/height; < 1 for anamorphic ovals.", rich_help_panel=APERTURE)
    ] = None,
    highlights: Annotated[
        float | None, typer.Option(help="Highlight boost in linear light (0 = off).", rich_help_panel=APERTURE)
    ] = None,
    highlight_threshold: Annotated[
        float | None, typer.Option(help="Linear luminance where the boost starts.", rich_help_panel=APERTURE)
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file (one input only).", rich_help_panel=OUTPUT)
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Folder for the outputs (created if missing).", rich_help_panel=OUTPUT)
    ] = None,
    suffix: Annotated[
        str | None,
        typer.Option(
            help="Added to the name: <stem><suffix><ext>. (default: _refocus)",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        OutputFormat | None,
        typer.Option(help="Output format (default: the input's).", rich_help_panel=OUTPUT, show_default=False),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.", rich_help_panel=OUTPUT)] = False,
    quality: Annotated[
        Quality | None,
        typer.Option(
            help="fast, or fine: crisper rims on large bokeh at about 1.3x the render time. (default: fast)",
            rich_help_panel=RUNTIME,
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        Device | None,
        typer.Option(help="auto = CUDA when present. (default: auto)", rich_help_panel=RUNTIME, show_default=False),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON record per photo on stdout.", rich_help_panel=RUNTIME)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or messages.", rich_help_panel=RUNTIME)
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="TOML config with defaults and lens presets.", rich_help_panel=RUNTIME)
    ] = None,
) -> None:
    """Refocus photos on a new point with a new amount of lens blur."""
    settings = load_config(config)
    focus_spec = focus_from(focus, focus_depth)
    physical_options = {
        "fnumber": fnumber,
        "focal_length": focal_length,
        "sensor_width": sensor_width,
        "focus_distance": focus_distance,
    }
    blur_k, camera = blur_mode(blur, physical_options, preset, settings)
    sources = expand_inputs(inputs)
    outputs = plan_outputs(
        sources,
        output,
        out_dir,
        _default(suffix, settings, "suffix", "_refocus"),
        format.value if format else settings.image.get("format"),
    )

    from refocus_cli.highlights import HighlightSettings
    from refocus_cli.pipeline import ImageRequest, resolve_device

    device_name = (device.value if device else None) or settings.image.get("device", "auto")
    resolve_device(device_name)  # a missing CUDA is one line before any work
    shape = aperture_from(
        _default(aperture, settings, "aperture", None),
        _default(blades, settings, "blades", None),
        float(_default(rotation, settings, "rotation", 0.0)),
        float(_default(aspect, settings, "aspect", 1.0)),
    )
    boost = HighlightSettings(
        boost=float(_default(highlights, settings, "highlights", 0.0)),
        threshold=float(_default(highlight_threshold, settings, "highlight_threshold", 0.8)),
    )
    kind = (depth_kind.value if depth_kind else None) or settings.image.get("depth_kind", "auto")
    forced_source = str(depth) if depth is not None and str(depth) in FORCED_DEPTH_SOURCES else None

    def request_for(source: Path, out: Path) -> ImageRequest:
        return ImageRequest(
            input_path=source,
            output_path=out,
            depth_path=None if forced_source else depth_for(source, depth, len(sources) > 1),
            depth_source=forced_source or "auto",
            save_depth=save_depth,
            save_depth_npy=save_depth_npy,
            depth_kind=kind,
            focus=focus_spec,
            blur_k_px=blur_k,
            camera=camera,
            aperture=shape,
            highlights=boost,
            device=device_name,
            overwrite=overwrite,
            quality=(quality.value if quality else None) or settings.image.get("quality", "fast"),
        )

    failures = run_batch(list(zip(sources, outputs, strict=True)), request_for, json_lines=json_lines, quiet=quiet)
    if failures:
        for failure in failures:
            typer.echo(f"refocus: error: {failure.message}", err=True)
        if len(sources) > 1:
            typer.echo(f"refocus: {len(failures)} of {len(sources)} inputs failed", err=True)
        raise typer.Exit(1)


def focus_from(focus: str | None, focus_depth: float | None) -> FocusSpec:
    """The focus request from --focus (point or box) or --focus-depth, not both."""
    from refocus_cli.pipeline import FocusSpec

    spec = parse_focus(focus)
    if focus_depth is None:
        return spec
    if spec != FocusSpec():
        raise typer.BadParameter("give --focus or --focus-depth, not both", param_hint="--focus-depth")
    return FocusSpec(disparity=focus_depth)


def blur_mode(
    blur: float | None, physical_options: dict[str, float | None], preset: str | None, settings: Config
) -> tuple[float | None, Any]:
    """(K, camera): relative blur K, or None and the camera of physical mode (any physical option or preset)."""
    preset_name = preset or (None if blur is not None else settings.image.get("preset"))
    physical = preset_name is not None or any(v is not None for v in physical_options.values())
    if blur is not None and physical:
        raise typer.BadParameter(
            "give --blur or the physical options (--fnumber, ..., --preset), not both", param_hint="--blur"
        )
    blur_k = None if physical else float(_default(blur, settings, "blur", 8.0))
    if blur_k is not None and blur_k < 0:
        raise SettingsError(f"--blur must be zero or positive, got {blur_k:g}")
    return blur_k, physical_camera(physical_options, settings.preset(preset_name) if preset_name else {})


def plan_outputs(
    sources: list[Path], output: Path | None, out_dir: Path | None, suffix: str, extension: str | None
) -> list[Path]:
    """One output path per input; the folder is made; inputs are never targets."""
    if output is not None and len(sources) > 1:
        raise SettingsError(f"-o names one output but {len(sources)} inputs were given; use --out-dir")
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(out_dir, "is not a folder")
        out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [output_path_for(s, output=output, out_dir=out_dir, suffix=suffix, extension=extension) for s in sources]
    check_outputs(sources, outputs)
    return outputs


def run_batch(
    jobs: list[tuple[Path, Path]],
    request_for: Callable[[Path, Path], ImageRequest],
    *,
    json_lines: bool,
    quiet: bool,
) -> list[Failure]:
    """Refocus each (input, output); a RefocusError fails that item only. Progress on a terminal, records on --json."""
    from refocus_cli.pipeline import refocus_image_file

    failures: list[Failure] = []
    show_progress = sys.stderr.isatty() and not quiet and not json_lines
    with _progress(show_progress, len(jobs)) as advance:
        for source, out in jobs:
            try:
                result = refocus_image_file(request_for(source, out))
            except RefocusError as error:
                if os.environ.get("REFOCUS_DEBUG"):
                    raise
                failures.append(Failure(source, str(error)))
                if json_lines:
                    typer.echo(json.dumps({"input": str(source), "error": str(error)}))
            else:
                if json_lines:
                    typer.echo(json.dumps(result.to_record()))
                elif not quiet:
                    for note in result.notes:
                        typer.echo(f"refocus: note: {note}", err=True)
                    seconds = sum(result.timings_s.values())
                    blur = f"blur {result.blur_k_px:g}" if result.blur_k_px is not None else "physical blur"
                    typer.echo(
                        f"wrote {result.output_path} (focus d={result.focus_disparity:.3f}, {blur}, "
                        f"max CoC {result.max_coc_radius_px:.1f} px, {seconds:.1f} s)",
                        err=True,
                    )
            advance()
    return failures


class _progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("refocusing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("refocus", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
