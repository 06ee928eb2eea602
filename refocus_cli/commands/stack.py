"""`refocus stack`: a focal stack from one photo (MP4, GIF, PNGs or an interactive page)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refocus_cli.commands.batch import given_options, run_batch
from refocus_cli.commands.batch_options import (
    ContactSheetOption,
    RayOption,
    SharedFoldersOption,
    SkipExistingOption,
    WorkersOption,
    batch_options,
)
from refocus_cli.commands.inputs import find_inputs, plan_inputs
from refocus_cli.commands.limits import (
    BLADES,
    BLUR_K_PX,
    STACK_FPS,
    STACK_FRAMES,
    check_lens_options,
    check_ranges,
    in_help,
)
from refocus_cli.commands.options import (
    APERTURE,
    DEFAULTS,
    DEPTH,
    FORCED_DEPTH_SOURCES,
    OUTPUT,
    RUNTIME,
    aperture_from,
)
from refocus_cli.errors import InputError, SettingsError, StackInputError
from refocus_cli.io.depth_output import depth_paths
from refocus_cli.io.formats import image_format
from refocus_cli.io.run_paths import RunPaths, check_readable_file, check_run_paths, make_folder, model_reads
from refocus_cli.io.sequences import natural_key
from refocus_cli.modes import DepthKind, Device, Quality

if TYPE_CHECKING:
    from refocus_cli.stack.make import StackResult

STACK, FUSE = "Stack from one photo", "Fuse a captured stack"


class StackFormat(str, Enum):
    mp4 = "mp4"
    gif = "gif"
    png = "png"
    html = "html"


def stack_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Photos (files, globs or folders); with --fuse, the frames of one stack.", show_default=False
        ),
    ],
    fuse: Annotated[
        bool,
        typer.Option(
            "--fuse",
            help="Fuse a captured focal stack into one sharp image and a depth map. Frames in any order: sorted "
            "by name, the first focused nearest.",
            rich_help_panel=FUSE,
        ),
    ] = False,
    far_first: Annotated[
        bool,
        typer.Option(
            "--far-first", help="With --fuse: the first frame by name is focused farthest.", rich_help_panel=FUSE
        ),
    ] = False,
    save_depth: Annotated[
        bool,
        typer.Option(
            help="With --fuse: write the depth from focus, <output>-depth.png (16-bit) and a colour preview.",
            rich_help_panel=FUSE,
        ),
    ] = True,
    save_depth_npy: Annotated[
        bool,
        typer.Option("--save-depth-npy", help="With --fuse: also <output>-depth.npy (float32).", rich_help_panel=FUSE),
    ] = False,
    frames: Annotated[
        int, typer.Option(help=f"Frames, nearest focus first{in_help(STACK_FRAMES)}.", rich_help_panel=STACK)
    ] = 24,
    format: Annotated[
        StackFormat,
        typer.Option(
            help="mp4 (a focus sweep that loops), gif, png (numbered frames and index.json) or html (a page where "
            "a click refocuses).",
            rich_help_panel=STACK,
        ),
    ] = StackFormat.mp4,
    fps: Annotated[
        float, typer.Option(help=f"Frames per second of mp4 and gif{in_help(STACK_FPS)}.", rich_help_panel=STACK)
    ] = 12.0,
    blur: Annotated[
        float,
        typer.Option(
            help=f"CoC radius in pixels per unit disparity difference{in_help(BLUR_K_PX)}.", rich_help_panel=STACK
        ),
    ] = 8.0,
    depth: Annotated[
        Path | None,
        typer.Option(
            help="Depth map, a folder of <stem>.* for batches, or a source to force: embedded or two-plane.",
            rich_help_panel=DEPTH,
        ),
    ] = None,
    depth_kind: Annotated[DepthKind, typer.Option(help="What the depth file holds.", rich_help_panel=DEPTH)] = (
        DepthKind.auto
    ),
    aperture: Annotated[
        str, typer.Option(help="disc, polygon, or a kernel image file.", rich_help_panel=APERTURE)
    ] = "disc",
    blades: Annotated[
        int | None, typer.Option(help=f"Iris blades (implies polygon){in_help(BLADES)}.", rich_help_panel=APERTURE)
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file (mp4, gif) or folder (png, html); one input only.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Folder for the outputs: <stem>-stack.<ext>.", rich_help_panel=OUTPUT)
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel=OUTPUT)
    ] = False,
    quality: Annotated[Quality, typer.Option(help="fast or fine.", rich_help_panel=RUNTIME)] = Quality.fast,
    device: Annotated[Device, typer.Option(help="auto = CUDA when present.", rich_help_panel=RUNTIME)] = Device.auto,
    workers: WorkersOption = 1,
    ray: RayOption = None,
    shared_folders: SharedFoldersOption = False,
    skip_existing: SkipExistingOption = False,
    contact_sheet: ContactSheetOption = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON record per stack on stdout.", rich_help_panel=RUNTIME)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or messages.", rich_help_panel=RUNTIME)
    ] = False,
) -> None:
    """Make the focal stack of a photo, nearest focus to farthest: a video, a GIF, frames, or a page to click.
    With --fuse, the inverse: one sharp image and a depth map from a captured focal stack."""
    batch = batch_options(
        workers, ray, shared_folders, skip_existing, contact_sheet, json_lines=json_lines, quiet=quiet
    )
    if fuse:
        if workers > 1 or ray is not None or contact_sheet is not None:
            raise SettingsError(
                "--fuse makes one image from one stack: --workers, --ray and --contact-sheet are for batches of photos"
            )
        fuse_frames(
            inputs,
            output,
            out_dir,
            save_depth,
            save_depth_npy,
            far_first,
            overwrite or skip_existing,
            skip_existing,
            json_lines,
            quiet,
        )
        return
    check_ranges({"--frames": (frames, STACK_FRAMES), "--fps": (fps, STACK_FPS)})
    check_lens_options(blades=blades, blur=blur)
    from refocus_cli.stack.settings import check_stack_settings, stack_output_path

    check_stack_settings(frames, format.value, fps, blur)
    depth_folder = depth if depth is not None and depth.is_dir() else None
    found = find_inputs(inputs, own_suffixes=(DEFAULTS.suffix,), depth_folder=depth_folder)
    sources = found.paths
    if not quiet:
        for note in found.notes:
            typer.echo(f"refocus: note: {note}", err=True)
    if output is not None and len(sources) > 1:
        raise SettingsError(f"-o names one output but {len(sources)} inputs were given; use --out-dir")
    forced = str(depth) if depth is not None and str(depth) in FORCED_DEPTH_SOURCES else None
    inputs_plan = plan_inputs(sources, depth, forced is not None)
    problems = inputs_plan.problems
    outputs = {s: stack_output_path(s, output, out_dir, format.value) for s in sources if s not in problems}
    kernel = None if aperture in ("disc", "polygon") else Path(aperture)
    if kernel is not None:
        check_readable_file(kernel)
    whole_folders = format.value in ("png", "html")
    sheet = (contact_sheet,) if contact_sheet is not None else ()
    check_run_paths(
        inputs_plan.reads
        + model_reads(kernel)
        + RunPaths(
            writes=sheet if whole_folders else (*outputs.values(), *sheet),
            write_folders=tuple(outputs.values()) if whole_folders else (),
            new_folders=(out_dir,) if out_dir else (),
        ),
        overwrite=overwrite or skip_existing,  # with --skip-existing, outputs there are skipped or this batch's own
        check_reads=False,
    )
    from refocus_cli.batch.task import BatchTask
    from refocus_cli.devices import resolve_device
    from refocus_cli.stack.make import StackRequest

    resolve_device(device.value)
    shape = aperture_from(None if aperture == "disc" else aperture, blades, 0.0, 1.0)
    if out_dir is not None:
        make_folder(out_dir)

    def task_for(source: Path) -> BatchTask:
        if source in problems:
            return BatchTask("stack", source, None, problem=problems[source])
        request = StackRequest(
            input_path=source,
            output_path=outputs[source],
            frames=frames,
            format=format.value,
            fps=fps,
            blur_k_px=blur,
            aperture=shape,
            quality=quality.value,
            device=device.value,
            depth_path=inputs_plan.depth_files[source],
            depth_kind=depth_kind.value,
            depth_source=forced or "auto",
            overwrite=overwrite,
        )
        reads = tuple(path for path in (source, request.depth_path) if path is not None)
        return BatchTask("stack", source, request, reads=reads, outputs=(outputs[source],))

    tasks = [task_for(source) for source in sources]
    run_batch(tasks, batch, title="refocus stack", settings=given_options(ctx), describe=describe)


def describe(result: StackResult) -> str:
    """What was made of one photo, for its `wrote` line and its contact-sheet row."""
    return f"{len(result.focus_disparities)} frames, {result.format}, depth {result.depth_source}"


def fuse_frames(
    inputs: list[str],
    output: Path | None,
    out_dir: Path | None,
    save_depth: bool,
    save_depth_npy: bool,
    far_first: bool,
    overwrite: bool,
    skip_existing: bool,
    json_lines: bool,
    quiet: bool,
) -> None:
    """`refocus stack --fuse`: the output defaults to <first frame's stem>-fused<its suffix>; with
    `skip_existing`, nothing is done when it (and its depth files) are there."""
    found = find_inputs(inputs)  # without an earlier fused image and depth maps
    frames = sorted(found.paths, key=lambda path: natural_key(path.name))
    if not quiet:
        for note in found.notes:
            typer.echo(f"refocus: note: {note}", err=True)
    if len(frames) < 2:
        raise InputError(frames[0], "--fuse needs at least two frames of a focal stack, got 1 (this one)")
    if output is None:
        first = frames[0]
        suffix = first.suffix if first.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff") else ".jpg"
        output = (out_dir or first.parent) / f"{first.stem}-fused{suffix}"
    image_format(output)
    problems = [error for error in plan_inputs(frames, None, True).problems.values() if isinstance(error, InputError)]
    if problems:
        raise StackInputError(problems)
    extras = depth_paths(output, with_npy=save_depth_npy) if save_depth or save_depth_npy else []
    made = (out_dir,) if out_dir else ()
    if skip_existing and all(path.exists() for path in (output, *extras)):
        if json_lines:
            typer.echo(json.dumps({"input": str(frames[0]), "output": str(output), "skipped": True}))
        elif not quiet:
            typer.echo(f"refocus: skipped the stack: {output} exists (--skip-existing)", err=True)
        return
    check_run_paths(
        RunPaths(reads=tuple(frames), writes=(output, *extras), new_folders=made),
        overwrite=overwrite,
        check_reads=False,
    )
    if out_dir is not None:
        make_folder(out_dir)
    from refocus_cli.stack.fuse_files import FuseRequest, fuse_stack_files

    request = FuseRequest(tuple(frames), output, save_depth, save_depth_npy, far_first, overwrite)
    result = fuse_stack_files(request)
    if json_lines:
        typer.echo(json.dumps(result.to_record()))
    elif not quiet:
        written = ", ".join(str(p) for p in (result.output_path, *result.depth_paths))
        typer.echo(f"wrote {written} ({len(result.frames)} frames)", err=True)
