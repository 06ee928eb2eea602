"""`refocus image`: refocus photos with a depth map, one or many, on any focus point with any blur."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from refocus_cli.commands import debug_enabled, echo_error
from refocus_cli.commands.inputs import check_outputs, depth_for, expand_inputs, output_path_for
from refocus_cli.commands.limits import (
    ASPECT,
    BLADES,
    BLUR_K_PX,
    FNUMBER,
    FOCAL_LENGTH_MM,
    FOCUS_DEPTH,
    FOCUS_DISTANCE_M,
    HIGHLIGHT_THRESHOLD,
    HIGHLIGHTS,
    ROTATION_DEG,
    SENSOR_WIDTH_MM,
    check_lens_options,
    in_help,
)
from refocus_cli.config import (
    CAMERA_FIELDS,
    DEFAULT_BLADES,
    Config,
    DepthKind,
    Device,
    Engine,
    ImageDefaults,
    OutputFormat,
    Preset,
    Quality,
    Restore,
    load_config,
)
from refocus_cli.errors import OutputError, RefocusError, SettingsError

if TYPE_CHECKING:
    from refocus_cli.aperture import ApertureShape
    from refocus_cli.pipeline import FocusSpec, ImageRequest

FORCED_DEPTH_SOURCES = ("embedded", "model", "defocus", "two-plane")
DEPTH, FOCUS, BLUR, APERTURE, OUTPUT, RUNTIME = "Depth", "Focus", "Blur", "Aperture", "Output", "Runtime"
DEFAULTS = ImageDefaults()  # the built-in defaults, named in the help texts
T = TypeVar("T")
ApertureOption = Annotated[
    str | None,
    typer.Option(
        help="disc, polygon, or a kernel image file. (default: disc)", rich_help_panel=APERTURE, show_default=False
    ),
]
BladesOption = Annotated[
    int | None,
    typer.Option(
        help=f"Iris blades (implies polygon){in_help(BLADES)}. (default: {DEFAULT_BLADES})",
        rich_help_panel=APERTURE,
        show_default=False,
    ),
]


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
    if not all(math.isfinite(number) for number in numbers):
        numbers = []
    if len(numbers) == 2:
        return FocusSpec(point_xy=(numbers[0], numbers[1]))
    if len(numbers) == 4 and numbers[2] > 0 and numbers[3] > 0:
        return FocusSpec(box_xywh=(numbers[0], numbers[1], numbers[2], numbers[3]))
    raise typer.BadParameter(f"expected X,Y or X,Y,W,H in pixels (W, H > 0), got {text!r}", param_hint="--focus")


def aperture_from(name: str | None, blades: int | None, rotation: float, aspect: float) -> ApertureShape:
    """disc, polygon (also implied by --blades) or the path of a kernel image."""
    from refocus_cli.aperture import ApertureShape

    if name is None:
        name = "polygon" if blades is not None else "disc"
    if name == "disc":
        return ApertureShape("disc", rotation_deg=rotation, aspect=aspect)
    if name == "polygon":
        return ApertureShape("polygon", blades=pick(blades, DEFAULT_BLADES), rotation_deg=rotation, aspect=aspect)
    from refocus_cli.io.images import read_image

    kernel = read_image(Path(name)).linear[0].mean(dim=0)
    return ApertureShape("custom", rotation_deg=rotation, aspect=aspect, custom=kernel)


def aperture_choice(
    aperture: str | None, blades: int | None, lens: Preset | None, defaults: ImageDefaults
) -> tuple[str | None, int | None]:
    """(aperture, blades) from the options, else the preset, else the config; --blades alone means polygon."""
    if aperture is None and blades is not None:
        return "polygon", blades
    preset = lens or Preset()
    return pick(aperture, pick(preset.aperture, defaults.aperture)), pick(preset.blades, defaults.blades)


def physical_camera(options: dict[str, float | None], lens: Preset | None) -> Any:
    """PartialCamera from a preset with the explicit physical options on top; each must be positive."""
    from refocus_cli.lens import PartialCamera

    values = lens.camera_fields() if lens is not None else {}
    for key, value in options.items():
        if value is None:
            continue
        if not 0 < value < math.inf:
            raise SettingsError(f"--{key.replace('_', '-')} must be positive, got {value:g}")
        values[CAMERA_FIELDS[key]] = value
    return PartialCamera(**values)


def pick(option: T | None, default: T) -> T:
    """The option if given, else the default (the config's value, else the built-in one)."""
    return default if option is None else option


def image_command(
    inputs: Annotated[list[str], typer.Argument(help="Photos: files, globs or folders.", show_default=False)],
    depth: Annotated[
        Path | None,
        typer.Option(
            help="Depth map (8/16-bit PNG, float TIFF, .npy, .pfm); a folder of <stem>.* for batches; or a source "
            "to force: embedded (depth stored in the photo), model (the learned estimator), defocus (read from "
            "the photo's blur) or two-plane (the approximation).",
            rich_help_panel=DEPTH,
        ),
    ] = None,
    depth_model: Annotated[
        str | None,
        typer.Option(
            help="Learned depth model: a registered name (see `refocus models`), a Hugging Face id or a folder "
            f"(Depth Anything, Marigold). (default: {DEFAULTS.depth_model})",
            rich_help_panel=DEPTH,
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(help="Never download a model (as HF_HUB_OFFLINE=1 does).", rich_help_panel=DEPTH),
    ] = False,
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
        float | None,
        typer.Option(
            help=f"Focus on this disparity (0 = farthest, 1 = nearest){in_help(FOCUS_DEPTH)}.", rich_help_panel=FOCUS
        ),
    ] = None,
    blur: Annotated[
        float | None,
        typer.Option(
            help="CoC radius in pixels per unit disparity difference: r = K * |d - d_focus| (r is capped at 256 px)"
            f"{in_help(BLUR_K_PX)}. (default: {DEFAULTS.blur:g})",
            rich_help_panel=BLUR,
            show_default=False,
        ),
    ] = None,
    fnumber: Annotated[
        float | None, typer.Option(help=f"Physical mode: f-number{in_help(FNUMBER)}.", rich_help_panel=BLUR)
    ] = None,
    focal_length: Annotated[
        float | None, typer.Option(help=f"Physical mode: focal length{in_help(FOCAL_LENGTH_MM)}.", rich_help_panel=BLUR)
    ] = None,
    sensor_width: Annotated[
        float | None,
        typer.Option(
            help=f"Physical mode: sensor width{in_help(SENSOR_WIDTH_MM)} (default: from EXIF, else 36).",
            rich_help_panel=BLUR,
        ),
    ] = None,
    focus_distance: Annotated[
        float | None,
        typer.Option(
            help=f"Physical mode: focus distance{in_help(FOCUS_DISTANCE_M)} (default: depth at --focus, else EXIF).",
            rich_help_panel=BLUR,
        ),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="Physical mode: a named lens (portrait-85, phone, ...).", rich_help_panel=BLUR)
    ] = None,
    aperture: ApertureOption = None,
    blades: BladesOption = None,
    rotation: Annotated[
        float | None, typer.Option(help=f"Aperture rotation, degrees{in_help(ROTATION_DEG)}.", rich_help_panel=APERTURE)
    ] = None,
    aspect: Annotated[
        float | None,
        typer.Option(
            help=f"Aperture width/height; < 1 for anamorphic ovals{in_help(ASPECT)}.", rich_help_panel=APERTURE
        ),
    ] = None,
    highlights: Annotated[
        float | None,
        typer.Option(help=f"Highlight boost in linear light (0 = off){in_help(HIGHLIGHTS)}.", rich_help_panel=APERTURE),
    ] = None,
    highlight_threshold: Annotated[
        float | None,
        typer.Option(
            help=f"Linear luminance where the boost starts{in_help(HIGHLIGHT_THRESHOLD)}.", rich_help_panel=APERTURE
        ),
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
            help=f"Added to the name: <stem><suffix><ext>. (default: {DEFAULTS.suffix})",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        OutputFormat | None,
        typer.Option(help="Output format (default: the input's).", rich_help_panel=OUTPUT, show_default=False),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.", rich_help_panel=OUTPUT)] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            help="physics (thin lens, occlusion-aware layers; no weights) or learned (our diffusers model).",
            rich_help_panel=RUNTIME,
        ),
    ] = Engine.physics,
    model: Annotated[
        str | None,
        typer.Option(
            help="The learned engine's checkpoint: a folder or a registered name (default: refocus-small, see "
            "`refocus models`).",
            rich_help_panel=RUNTIME,
            show_default=False,
        ),
    ] = None,
    quality: Annotated[
        Quality | None,
        typer.Option(
            help="fast, or fine: crisper rims on large bokeh at about 1.3x the render time. "
            f"(default: {DEFAULTS.quality.value})",
            rich_help_panel=RUNTIME,
            show_default=False,
        ),
    ] = None,
    restore: Annotated[
        Restore | None,
        typer.Option(
            help="Undo the photo's own defocus before refocusing: on, auto (only when the fitted blur is worth "
            f"undoing) or off. (default: {DEFAULTS.restore.value})",
            rich_help_panel=RUNTIME,
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        Device | None,
        typer.Option(
            help=f"auto = CUDA when present. (default: {DEFAULTS.device.value})",
            rich_help_panel=RUNTIME,
            show_default=False,
        ),
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
    """Refocus photos on a new point with a new amount of lens blur.

    Photos too large for the memory budget (REFOCUS_MEMORY_GB, default 4 GB) are rendered in tiles."""
    settings = load_config(config)
    focus_spec = focus_from(focus, focus_depth)
    physical_options = {
        "fnumber": fnumber,
        "focal_length": focal_length,
        "sensor_width": sensor_width,
        "focus_distance": focus_distance,
    }
    defaults = settings.image
    lens = chosen_preset(preset, blur, physical_options, settings)
    blur_k, camera = blur_mode(blur, physical_options, lens, defaults)
    check_lens_options(
        blades=blades,
        rotation=rotation,
        aspect=aspect,
        highlights=highlights,
        highlight_threshold=highlight_threshold,
        blur=blur,
        focus_depth=focus_depth,
        fnumber=fnumber,
        focal_length=focal_length,
        sensor_width=sensor_width,
        focus_distance=focus_distance,
    )  # after the checks above (their wording), before any file is read

    from refocus_cli.highlights import HighlightSettings
    from refocus_cli.pipeline import ImageRequest, resolve_device

    device_name = pick(device, defaults.device).value
    resolve_device(device_name)  # a missing CUDA is one line before any work
    shape = aperture_from(
        *aperture_choice(aperture, blades, lens, defaults),
        pick(rotation, defaults.rotation),
        pick(aspect, defaults.aspect),
    )
    boost = HighlightSettings(
        boost=pick(highlights, defaults.highlights),
        threshold=pick(highlight_threshold, defaults.highlight_threshold),
    )
    kind = pick(depth_kind, defaults.depth_kind).value
    sources = expand_inputs(inputs)  # the output folder is made only once every setting is valid
    extension = pick(format, defaults.format)
    outputs = plan_outputs(
        sources, output, out_dir, pick(suffix, defaults.suffix), extension.value if extension else None
    )
    forced_source = str(depth) if depth is not None and str(depth) in FORCED_DEPTH_SOURCES else None

    def request_for(source: Path, out: Path) -> ImageRequest:
        return ImageRequest(
            input_path=source,
            output_path=out,
            depth_path=None if forced_source else depth_for(source, depth, len(sources) > 1),
            depth_source=forced_source or "auto",
            depth_model=pick(depth_model, defaults.depth_model),
            offline=offline,
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
            quality=pick(quality, defaults.quality).value,
            restore=pick(restore, defaults.restore).value,
            engine=engine.value,
            model=model,
            lens_from_photo=blur is None and lens is None and all(v is None for v in physical_options.values()),
        )

    failures = run_batch(list(zip(sources, outputs, strict=True)), request_for, json_lines=json_lines, quiet=quiet)
    if failures:
        for failure in failures:
            echo_error(failure.message)
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
    if not 0.0 <= focus_depth <= 1.0:
        raise SettingsError(f"--focus-depth must be a disparity between 0 and 1, got {focus_depth:g}")
    return FocusSpec(disparity=focus_depth)


def chosen_preset(
    preset: str | None, blur: float | None, physical_options: dict[str, float | None], settings: Config
) -> Preset | None:
    """The lens preset in use: --preset, else the config's (unless --blur asks for relative blur)."""
    if blur is not None and (preset is not None or any(v is not None for v in physical_options.values())):
        raise typer.BadParameter(
            "give --blur or the physical options (--fnumber, ..., --preset), not both", param_hint="--blur"
        )
    name = preset if preset is not None else None if blur is not None else settings.image.preset
    return None if name is None else settings.preset(name)


def blur_mode(
    blur: float | None, physical_options: dict[str, float | None], lens: Preset | None, defaults: ImageDefaults
) -> tuple[float | None, Any]:
    """(K, camera): relative blur K, or None and the camera of physical mode (any physical option or preset)."""
    if lens is not None or any(v is not None for v in physical_options.values()):
        return None, physical_camera(physical_options, lens)
    blur_k = pick(blur, defaults.blur)
    if not 0 <= blur_k < math.inf:
        raise SettingsError(f"--blur must be zero or positive, got {blur_k:g}")
    return blur_k, physical_camera({}, None)


def plan_outputs(
    sources: list[Path], output: Path | None, out_dir: Path | None, suffix: str, extension: str | None
) -> list[Path]:
    """One output path per input; the folder is made; inputs are never targets."""
    if output is not None and out_dir is not None:
        raise typer.BadParameter("give -o or --out-dir, not both", param_hint="-o")
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
    from refocus_cli.image_job import refocus_image  # the whole image, or tiles within the memory budget

    failures: list[Failure] = []
    show_progress = sys.stderr.isatty() and not quiet and not json_lines
    with _progress(show_progress, len(jobs)) as advance:
        for source, out in jobs:
            try:
                result = refocus_image(request_for(source, out))
            except RefocusError as error:
                if debug_enabled():
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
