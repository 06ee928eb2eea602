"""`refocus image`: refocus photos with a depth map, one or many, on any focus point with any blur."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

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
from refocus_cli.commands.inputs import (
    check_outputs,
    find_inputs,
    output_path_for,
    plan_inputs,
)
from refocus_cli.commands.limits import check_lens_options
from refocus_cli.commands.options import (
    DEFAULTS,
    FORCED_DEPTH_SOURCES,
    ApertureOption,
    AspectOption,
    BladesOption,
    BlurOption,
    ConfigOption,
    DepthKindOption,
    DepthModelOption,
    DepthOption,
    DeviceOption,
    EngineOption,
    FnumberOption,
    FocalLengthOption,
    FocusDepthOption,
    FocusDistanceOption,
    FocusOption,
    HighlightsOption,
    HighlightThresholdOption,
    JsonOption,
    ModelOption,
    OfflineOption,
    OutDirOption,
    OutputFormatOption,
    OutputOption,
    OverwriteOption,
    PhotosArgument,
    PresetOption,
    QualityOption,
    QuietOption,
    RestoreOption,
    RotationOption,
    SaveDepthNpyOption,
    SaveDepthOption,
    SensorWidthOption,
    SuffixOption,
    aperture_choice,
    aperture_from,
    blur_mode,
    chosen_preset,
    focus_from,
    pick,
)
from refocus_cli.config import load_config
from refocus_cli.errors import OutputError, SettingsError
from refocus_cli.io.depth_output import depth_paths
from refocus_cli.io.formats import image_format
from refocus_cli.io.run_paths import RunPaths, check_readable_file, check_run_paths, make_folder, model_reads
from refocus_cli.modes import DepthSource, Engine

if TYPE_CHECKING:
    from refocus_cli.image.request import ImageRequest, ImageResult


def image_command(
    ctx: typer.Context,
    inputs: PhotosArgument,
    depth: DepthOption = None,
    depth_model: DepthModelOption = None,
    offline: OfflineOption = False,
    save_depth: SaveDepthOption = False,
    save_depth_npy: SaveDepthNpyOption = False,
    depth_kind: DepthKindOption = None,
    focus: FocusOption = None,
    focus_depth: FocusDepthOption = None,
    blur: BlurOption = None,
    fnumber: FnumberOption = None,
    focal_length: FocalLengthOption = None,
    sensor_width: SensorWidthOption = None,
    focus_distance: FocusDistanceOption = None,
    preset: PresetOption = None,
    aperture: ApertureOption = None,
    blades: BladesOption = None,
    rotation: RotationOption = None,
    aspect: AspectOption = None,
    highlights: HighlightsOption = None,
    highlight_threshold: HighlightThresholdOption = None,
    output: OutputOption = None,
    out_dir: OutDirOption = None,
    suffix: SuffixOption = None,
    format: OutputFormatOption = None,
    overwrite: OverwriteOption = False,
    engine: EngineOption = Engine.physics,
    model: ModelOption = None,
    quality: QualityOption = None,
    restore: RestoreOption = None,
    device: DeviceOption = None,
    workers: WorkersOption = 1,
    ray: RayOption = None,
    shared_folders: SharedFoldersOption = False,
    skip_existing: SkipExistingOption = False,
    contact_sheet: ContactSheetOption = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    config: ConfigOption = None,
) -> None:
    """Refocus photos on a new point with a new amount of lens blur.

    Photos too large for the memory budget (REFOCUS_MEMORY_GB, default 4 GB) are rendered in tiles."""
    batch = batch_options(
        workers, ray, shared_folders, skip_existing, contact_sheet, json_lines=json_lines, quiet=quiet
    )
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
    aperture_name, blades_count = aperture_choice(aperture, blades, lens, defaults)
    run_suffix = pick(suffix, defaults.suffix)
    depth_folder = depth if depth is not None and depth.is_dir() else None
    found = find_inputs(
        inputs, own_suffixes=tuple(dict.fromkeys((run_suffix, DEFAULTS.suffix))), depth_folder=depth_folder
    )
    sources = found.paths
    extension = pick(format, defaults.format)
    outputs = plan_outputs(sources, output, out_dir, run_suffix, extension.value if extension else None)
    forced_source = str(depth) if depth is not None and str(depth) in FORCED_DEPTH_SOURCES else None
    inputs_plan = plan_inputs(sources, depth, forced_source is not None)
    problems = inputs_plan.problems
    writes = [out for source, out in zip(sources, outputs, strict=True) if source not in problems]
    extras = {out: depth_paths(out, with_npy=save_depth_npy) if save_depth or save_depth_npy else [] for out in outputs}
    writes += [extra for out in writes for extra in extras[out]]
    writes += [contact_sheet] if contact_sheet is not None else []
    kernel = None if aperture_name in (None, "disc", "polygon") else Path(aperture_name)
    if kernel is not None:
        check_readable_file(kernel)
    check_run_paths(
        inputs_plan.reads
        + model_reads(model, pick(depth_model, defaults.depth_model), kernel, config)
        + RunPaths(writes=tuple(writes), new_folders=(out_dir,) if out_dir else ()),
        overwrite=overwrite or skip_existing,  # with --skip-existing, outputs there are skipped or this batch's own
        check_reads=False,
    )
    from refocus_cli.devices import resolve_device
    from refocus_cli.highlights import HighlightSettings
    from refocus_cli.image.request import ImageRequest

    device_mode = pick(device, defaults.device)
    resolve_device(device_mode.value)  # a missing CUDA is one line before any work
    if engine is Engine.learned:
        from refocus_cli.learned.engine import resolve_checkpoint

        resolve_checkpoint(model)  # a missing checkpoint too
    if forced_source == "model":  # and a forced depth model that cannot be had (nothing is downloaded yet)
        from refocus_cli.registry.resolve import resolve_model

        resolve_model(pick(depth_model, defaults.depth_model), "depth", offline=offline, download=True)
    shape = aperture_from(aperture_name, blades_count, pick(rotation, defaults.rotation), pick(aspect, defaults.aspect))
    boost = HighlightSettings(
        boost=pick(highlights, defaults.highlights),
        threshold=pick(highlight_threshold, defaults.highlight_threshold),
    )
    kind = pick(depth_kind, defaults.depth_kind)
    if out_dir is not None:
        make_folder(out_dir)  # only once every setting and path is valid
    if not quiet:
        for note in found.notes:
            typer.echo(f"refocus: note: {note}", err=True)

    def request_for(source: Path, out: Path) -> ImageRequest:
        return ImageRequest(
            input_path=source,
            output_path=out,
            depth_path=inputs_plan.depth_files[source],
            depth_source=DepthSource(forced_source or "auto"),
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
            device=device_mode,
            overwrite=overwrite,
            quality=pick(quality, defaults.quality),
            restore=pick(restore, defaults.restore),
            engine=engine,
            model=model,
            lens_from_photo=blur is None and lens is None and all(v is None for v in physical_options.values()),
        )

    from refocus_cli.batch.task import BatchTask

    tasks = [
        BatchTask("image", source, None, problem=problems[source])
        if source in problems
        else BatchTask(
            "image",
            source,
            request_for(source, out),
            reads=tuple(p for p in (source, inputs_plan.depth_files[source]) if p is not None),
            outputs=(out, *extras[out]),
        )
        for source, out in zip(sources, outputs, strict=True)
    ]
    run_batch(tasks, batch, title="refocus image", settings=given_options(ctx), describe=describe)


def describe(result: ImageResult) -> str:
    """What was done to one photo, for its `wrote` line and its contact-sheet row."""
    seconds = sum(result.timings_s.values())
    blur = f"blur {result.blur_k_px:g}" if result.blur_k_px is not None else "physical blur"
    return f"focus d={result.focus_disparity:.3f}, {blur}, max CoC {result.max_coc_radius_px:.1f} px, {seconds:.1f} s"


def plan_outputs(
    sources: list[Path], output: Path | None, out_dir: Path | None, suffix: str, extension: str | None
) -> list[Path]:
    """One output path per input (the folder is made later, once every check has passed); inputs are never
    targets."""
    if output is not None and out_dir is not None:
        raise typer.BadParameter("give -o or --out-dir, not both", param_hint="-o")
    if output is not None and len(sources) > 1:
        raise SettingsError(f"-o names one output but {len(sources)} inputs were given; use --out-dir")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "is not a folder")
    outputs = [output_path_for(s, output=output, out_dir=out_dir, suffix=suffix, extension=extension) for s in sources]
    check_outputs(sources, outputs)
    for out in outputs:
        if os.path.isdir(out):
            raise OutputError(out, "is a folder")
        image_format(out)  # an unknown suffix is one line before any work
    return outputs
