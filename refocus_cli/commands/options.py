"""The options `refocus image` takes, declared once (Typer `Annotated` aliases in help panels), and the small
functions that turn them into settings; `generate`, `stack` and `video` share the aperture, focus and panel
names. No heavy imports: `--help` and completion stay fast."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

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
    in_help,
)
from refocus_cli.config import CAMERA_FIELDS, DEFAULT_BLADES, Config, ImageDefaults, Preset
from refocus_cli.errors import SettingsError
from refocus_cli.focus import FocusSpec, check_focus_disparity
from refocus_cli.lens import check_blur_k, check_focus_beyond_focal_length
from refocus_cli.modes import DepthKind, Device, Engine, OutputFormat, Quality, Restore

if TYPE_CHECKING:
    from refocus_cli.aperture import ApertureShape

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


PhotosArgument = Annotated[list[str], typer.Argument(help="Photos: files, globs or folders.", show_default=False)]
DepthOption = Annotated[
    Path | None,
    typer.Option(
        help="Depth map (8/16-bit PNG, float TIFF, .npy, .pfm); a folder of <stem>.* for batches; or a source "
        "to force: embedded (depth stored in the photo), model (the learned estimator), defocus (read from "
        "the photo's blur) or two-plane (the approximation).",
        rich_help_panel=DEPTH,
    ),
]
DepthModelOption = Annotated[
    str | None,
    typer.Option(
        help="Learned depth model: a registered name (see `refocus models`), a Hugging Face id or a folder "
        f"(Depth Anything, Marigold). (default: {DEFAULTS.depth_model})",
        rich_help_panel=DEPTH,
        show_default=False,
    ),
]
OfflineOption = Annotated[
    bool,
    typer.Option("--offline", help="Never download a model (as HF_HUB_OFFLINE=1 does).", rich_help_panel=DEPTH),
]
SaveDepthOption = Annotated[
    bool,
    typer.Option(
        "--save-depth",
        help="Also write the depth used: <output>-depth.png (16-bit) and a colour preview.",
        rich_help_panel=DEPTH,
    ),
]
SaveDepthNpyOption = Annotated[
    bool,
    typer.Option(
        "--save-depth-npy", help="Also write the depth used as <output>-depth.npy (float32).", rich_help_panel=DEPTH
    ),
]
DepthKindOption = Annotated[
    DepthKind | None,
    typer.Option(
        help="What the depth file holds (default: auto: disparity for integer images and .pfm, "
        "metres for float TIFF and .npy).",
        rich_help_panel=DEPTH,
        show_default=False,
    ),
]
FocusOption = Annotated[
    str | None,
    typer.Option(
        help="Focus on pixel X,Y or on the box X,Y,W,H (origin top-left). (default: auto-focus: the focal point "
        "the camera recorded, else the nearest sizeable region near the centre; --json says which)",
        metavar="X,Y[,W,H]",
        rich_help_panel=FOCUS,
        show_default=False,
    ),
]
FocusDepthOption = Annotated[
    float | None,
    typer.Option(
        help=f"Focus on this disparity (0 = farthest, 1 = nearest){in_help(FOCUS_DEPTH)}.", rich_help_panel=FOCUS
    ),
]
BlurOption = Annotated[
    float | None,
    typer.Option(
        help="CoC radius in pixels per unit disparity difference: r = K * |d - d_focus| (r is capped at 256 px)"
        f"{in_help(BLUR_K_PX)}. (default: {DEFAULTS.blur:g})",
        rich_help_panel=BLUR,
        show_default=False,
    ),
]
FnumberOption = Annotated[
    float | None, typer.Option(help=f"Physical mode: f-number{in_help(FNUMBER)}.", rich_help_panel=BLUR)
]
FocalLengthOption = Annotated[
    float | None, typer.Option(help=f"Physical mode: focal length{in_help(FOCAL_LENGTH_MM)}.", rich_help_panel=BLUR)
]
SensorWidthOption = Annotated[
    float | None,
    typer.Option(
        help=f"Physical mode: sensor width{in_help(SENSOR_WIDTH_MM)} (default: from EXIF, else 36).",
        rich_help_panel=BLUR,
    ),
]
FocusDistanceOption = Annotated[
    float | None,
    typer.Option(
        help=f"Physical mode: focus distance{in_help(FOCUS_DISTANCE_M)} (default: metric depth at --focus, else "
        "EXIF, else 0.025 m per mm of 35 mm-equivalent focal length).",
        rich_help_panel=BLUR,
    ),
]
PresetOption = Annotated[
    str | None, typer.Option(help="Physical mode: a named lens (portrait-85, phone, ...).", rich_help_panel=BLUR)
]
RotationOption = Annotated[
    float | None, typer.Option(help=f"Aperture rotation, degrees{in_help(ROTATION_DEG)}.", rich_help_panel=APERTURE)
]
AspectOption = Annotated[
    float | None,
    typer.Option(help=f"Aperture width/height; < 1 for anamorphic ovals{in_help(ASPECT)}.", rich_help_panel=APERTURE),
]
HighlightsOption = Annotated[
    float | None,
    typer.Option(help=f"Highlight boost in linear light (0 = off){in_help(HIGHLIGHTS)}.", rich_help_panel=APERTURE),
]
HighlightThresholdOption = Annotated[
    float | None,
    typer.Option(
        help=f"Linear luminance where the boost starts{in_help(HIGHLIGHT_THRESHOLD)}.", rich_help_panel=APERTURE
    ),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Output file (one input only).", rich_help_panel=OUTPUT)
]
OutDirOption = Annotated[
    Path | None, typer.Option(help="Folder for the outputs (created if missing).", rich_help_panel=OUTPUT)
]
SuffixOption = Annotated[
    str | None,
    typer.Option(
        help=f"Added to the name: <stem><suffix><ext>. (default: {DEFAULTS.suffix})",
        rich_help_panel=OUTPUT,
        show_default=False,
    ),
]
OutputFormatOption = Annotated[
    OutputFormat | None,
    typer.Option(help="Output format (default: the input's).", rich_help_panel=OUTPUT, show_default=False),
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUTPUT)]
EngineOption = Annotated[
    Engine,
    typer.Option(
        help="physics (thin lens, occlusion-aware layers; no weights) or learned (our diffusers model).",
        rich_help_panel=RUNTIME,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        help="The learned engine's checkpoint: a folder or a registered name (default: refocus-small, see "
        "`refocus models`).",
        rich_help_panel=RUNTIME,
        show_default=False,
    ),
]
QualityOption = Annotated[
    Quality | None,
    typer.Option(
        help="fast, or fine: crisper rims on large bokeh at about 1.3x the render time. "
        f"(default: {DEFAULTS.quality.value})",
        rich_help_panel=RUNTIME,
        show_default=False,
    ),
]
RestoreOption = Annotated[
    Restore | None,
    typer.Option(
        help="Undo the photo's own defocus before refocusing: on, auto (only when the fitted blur is worth "
        f"undoing) or off. (default: {DEFAULTS.restore.value})",
        rich_help_panel=RUNTIME,
        show_default=False,
    ),
]
DeviceOption = Annotated[
    Device | None,
    typer.Option(
        help=f"auto = CUDA when present. (default: {DEFAULTS.device.value})",
        rich_help_panel=RUNTIME,
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON record per photo on stdout.", rich_help_panel=RUNTIME)
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or messages.", rich_help_panel=RUNTIME)]
ConfigOption = Annotated[
    Path | None, typer.Option(help="TOML config with defaults and lens presets.", rich_help_panel=RUNTIME)
]


def parse_focus(text: str | None) -> FocusSpec:
    """`X,Y` (a point) or `X,Y,W,H` (a box), in pixels of the photo as displayed."""
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
    from refocus_cli.aperture import kernel_from_file

    return ApertureShape("custom", rotation_deg=rotation, aspect=aspect, custom=kernel_from_file(Path(name)))


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


def focus_from(focus: str | None, focus_depth: float | None) -> FocusSpec:
    """The focus request from --focus (point or box) or --focus-depth, not both."""
    spec = parse_focus(focus)
    if focus_depth is None:
        return spec
    if spec != FocusSpec():
        raise typer.BadParameter("give --focus or --focus-depth, not both", param_hint="--focus-depth")
    check_focus_disparity(focus_depth)
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
        camera = physical_camera(physical_options, lens)
        if camera.focus_distance_m is not None and camera.focal_length_mm is not None:  # before any file is read
            check_focus_beyond_focal_length(camera.focus_distance_m, camera.focal_length_mm)
        return None, camera
    blur_k = pick(blur, defaults.blur)
    check_blur_k(blur_k)
    return blur_k, physical_camera({}, None)
