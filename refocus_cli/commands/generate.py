"""`refocus generate`: text to image with camera-controlled lens blur; a sweep keeps the scene and changes the
lens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from refocus_cli.commands.limits import (
    FNUMBER,
    FOCAL_LENGTH_MM,
    FOCUS_DISTANCE_M,
    GENERATE_SIDE_PX,
    GUIDANCE,
    HIGHLIGHTS,
    ROTATION_DEG,
    SCENE_DISTANCE_M,
    SENSOR_WIDTH_MM,
    STEPS,
    SWEEP_VALUES,
    check_lens_options,
    check_ranges,
    check_sweep,
    in_help,
)
from refocus_cli.commands.options import ApertureOption, BladesOption, aperture_from, parse_focus
from refocus_cli.modes import Device, Quality

MODEL, LENS, FOCUS, APERTURE, OUTPUT, RUNTIME = "Model", "Lens", "Focus", "Aperture", "Output", "Runtime"


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'WxH' -> (W, H) in pixels; None keeps the model's default."""
    from refocus_cli.errors import SettingsError

    if text is None:
        return None
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise SettingsError(f"--size must be WIDTHxHEIGHT in pixels, e.g. 768x512, got {text!r}") from None
    check_ranges({"--size width": (size[0], GENERATE_SIDE_PX), "--size height": (size[1], GENERATE_SIDE_PX)})
    return size


def generate_command(
    prompt: Annotated[str, typer.Argument(help="What to picture.", show_default=False)],
    model: Annotated[
        str | None,
        typer.Option(
            help="Text-to-image model: a name from `refocus models`, a folder or a Hugging Face id "
            "(default: the registry's text-to-image default).",
            rich_help_panel=MODEL,
            show_default=False,
        ),
    ] = None,
    negative_prompt: Annotated[
        str | None, typer.Option(help="What to keep out of the picture.", rich_help_panel=MODEL)
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the generation: the same seed, the same scene.", rich_help_panel=MODEL)
    ] = 0,
    steps: Annotated[
        int | None,
        typer.Option(
            help=f"Denoising steps{in_help(STEPS)} (default: the model's entry, else 25).",
            rich_help_panel=MODEL,
            show_default=False,
        ),
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            help=f"Guidance scale{in_help(GUIDANCE)} (default: the model's entry, else 5).",
            rich_help_panel=MODEL,
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help=f"WIDTHxHEIGHT, multiples of 16, each {GENERATE_SIDE_PX.text()} (default: the model's resolution).",
            rich_help_panel=MODEL,
            show_default=False,
        ),
    ] = None,
    depth_model: Annotated[
        str | None,
        typer.Option(
            help="Depth model: a name from `refocus models`, a folder or a Hugging Face id.",
            rich_help_panel=MODEL,
            show_default=False,
        ),
    ] = None,
    fnumber: Annotated[
        float | None,
        typer.Option(help=f"f-number{in_help(FNUMBER)}. (default: 2.8)", rich_help_panel=LENS, show_default=False),
    ] = None,
    focal_length: Annotated[
        float | None,
        typer.Option(
            help=f"Focal length{in_help(FOCAL_LENGTH_MM)}. (default: 50)", rich_help_panel=LENS, show_default=False
        ),
    ] = None,
    sensor_width: Annotated[
        float | None,
        typer.Option(
            help=f"Sensor width{in_help(SENSOR_WIDTH_MM)}. (default: 36, full frame)",
            rich_help_panel=LENS,
            show_default=False,
        ),
    ] = None,
    focus_distance: Annotated[
        float | None,
        typer.Option(
            help=f"Focus distance{in_help(FOCUS_DISTANCE_M)} (default: the depth at --focus, else at the subject).",
            rich_help_panel=FOCUS,
            show_default=False,
        ),
    ] = None,
    focus: Annotated[
        str | None,
        typer.Option(
            help="Focus on pixel X,Y or box X,Y,W,H of the generated image (default: auto-focus).",
            rich_help_panel=FOCUS,
            show_default=False,
        ),
    ] = None,
    near: Annotated[
        float,
        typer.Option(
            help=f"Relative depth models: distance of the nearest pixel{in_help(SCENE_DISTANCE_M)}.",
            rich_help_panel=FOCUS,
        ),
    ] = 1.0,
    far: Annotated[
        float,
        typer.Option(
            help=f"Relative depth models: distance of the farthest pixel{in_help(SCENE_DISTANCE_M)}.",
            rich_help_panel=FOCUS,
        ),
    ] = 100.0,
    sweep: Annotated[
        str | None,
        typer.Option(
            help=f"One image per value of one lens setting (at most {SWEEP_VALUES.high:g}), same scene: "
            "fnumber=1.4,2.8,5.6,11 or focus=1,2,5 (m) "
            "or focal-length=35,50,85. Files: <stem>-<setting><value><ext>.",
            rich_help_panel=LENS,
            show_default=False,
        ),
    ] = None,
    aperture: ApertureOption = None,
    blades: BladesOption = None,
    rotation: Annotated[
        float, typer.Option(help=f"Aperture rotation, degrees{in_help(ROTATION_DEG)}.", rich_help_panel=APERTURE)
    ] = 0.0,
    highlights: Annotated[
        float,
        typer.Option(help=f"Highlight boost in linear light (0 = off){in_help(HIGHLIGHTS)}.", rich_help_panel=APERTURE),
    ] = 0.0,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The image (.jpg carries depth and EXIF for `refocus image`).",
            rich_help_panel=OUTPUT,
        ),
    ] = Path("generated.jpg"),
    save_all_in_focus: Annotated[
        bool, typer.Option("--save-all-in-focus", help="Also write <stem>-all-in-focus.png.", rich_help_panel=OUTPUT)
    ] = False,
    save_depth: Annotated[
        bool,
        typer.Option(
            "--save-depth",
            help="Also write <stem>-depth.png (disparity), a preview and <stem>-depth-m.tiff (metres).",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUTPUT)
    ] = False,
    quality: Annotated[
        Quality, typer.Option(help="fast, or fine (crisper bokeh rims).", rich_help_panel=RUNTIME)
    ] = Quality.fast,
    device: Annotated[Device, typer.Option(help="auto = CUDA when present.", rich_help_panel=RUNTIME)] = Device.auto,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Never download a model (as HF_HUB_OFFLINE=1 does).", rich_help_panel=RUNTIME),
    ] = False,
    json_line: Annotated[
        bool, typer.Option("--json", help="One JSON record on stdout.", rich_help_panel=RUNTIME)
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No messages.", rich_help_panel=RUNTIME)] = False,
) -> None:
    """Generate a scene from a prompt and photograph it with a chosen lens (f-number, focal length, focus)."""
    check_lens_options(
        blades=blades,
        rotation=rotation,
        highlights=highlights,
        fnumber=fnumber,
        focal_length=focal_length,
        sensor_width=sensor_width,
        focus_distance=focus_distance,
    )
    check_ranges(
        {
            "--near": (near, SCENE_DISTANCE_M),
            "--far": (far, SCENE_DISTANCE_M),
            "--steps": (steps, STEPS),
            "--guidance": (guidance, GUIDANCE),
        }
    )
    from refocus_cli.generate.outputs import PathsAskedFor, Sweep, check_generate_paths, extra_paths

    kernel = () if aperture in (None, "disc", "polygon") else (Path(aperture),)
    planned_sweep = None if sweep is None else Sweep.parse(sweep)
    if planned_sweep is not None:
        check_sweep(planned_sweep.setting, planned_sweep.values)
    asked = PathsAskedFor(save_all_in_focus, save_depth, kernel, model, depth_model, overwrite)
    check_generate_paths(output, planned_sweep, extra_paths(output, asked), asked)  # before any heavy import

    from refocus_cli.devices import resolve_device
    from refocus_cli.generate.pipeline import GenerateRequest, generate
    from refocus_cli.generate.scene import SceneRange
    from refocus_cli.generate.text_to_image import Prompting
    from refocus_cli.highlights import HighlightSettings
    from refocus_cli.lens import PartialCamera

    resolve_device(device.value)  # a missing CUDA is one line before any work
    shape = aperture_from(aperture, blades, rotation, 1.0)
    request = GenerateRequest(
        prompting=Prompting(prompt, negative_prompt, seed, steps, guidance, parse_size(size)),
        output_path=output,
        model=model,
        depth_model=depth_model,
        camera=PartialCamera(fnumber, focal_length, sensor_width, focus_distance),
        focus=parse_focus(focus),
        scene=SceneRange(near, far),
        aperture=shape,
        highlights=HighlightSettings(boost=highlights),
        quality=quality.value,
        sweep=planned_sweep,
        save_all_in_focus=save_all_in_focus,
        save_depth=save_depth,
        device=device.value,
        offline=offline,
        overwrite=overwrite,
        reads=kernel,
    )
    result = generate(request)
    if json_line:
        typer.echo(json.dumps(result.to_record()))
        return
    if quiet:
        return
    for image in result.images:
        camera = image.camera
        typer.echo(
            f"{image.path}: f/{camera.f_number:g}, {camera.focal_length_mm:g} mm, "
            f"focus {camera.focus_distance_m:.2f} m, largest blur radius {image.max_coc_radius_px:.1f} px",
            err=True,
        )
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
