"""`refocus video` and `refocus bokeh-video`: one clip, refocused frame by frame with depth steady in time."""

from __future__ import annotations

from dataclasses import replace
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
from refocus_cli.commands.clips import (
    check_skippable,
    clip_paths,
    expand_clips,
    output_paths,
    plan_clip_outputs,
    read_roots,
)
from refocus_cli.commands.limits import (
    BLUR_K_PX,
    CRF,
    FOCUS_DEPTH,
    FOCUS_SMOOTHING_S,
    OVERLAP_FRAMES,
    SEQUENCE_FPS,
    WINDOW_FRAMES,
    check_lens_options,
    check_ranges,
    in_help,
)
from refocus_cli.commands.options import (
    DEFAULTS,
    DEPTH,
    OUTPUT,
    RUNTIME,
    ApertureOption,
    BladesOption,
    ConfigOption,
    DeviceOption,
    QualityOption,
    aperture_choice,
    aperture_from,
    parse_focus,
    pick,
)
from refocus_cli.commands.progress import frame_progress
from refocus_cli.config import load_config
from refocus_cli.errors import SettingsError
from refocus_cli.io.run_paths import RunPaths, check_run_paths, model_reads
from refocus_cli.modes import Engine, Restore

if TYPE_CHECKING:
    from refocus_cli.video.request import VideoResult

FOCUS, ENCODE, TIME = "Focus and blur over time", "Encoding", "Windows and stability"


def _focus_point(text: str | None) -> tuple[float, float] | None:
    """--focus as `refocus image` parses it; a clip follows a point, so a box is refused."""
    from refocus_cli.errors import SettingsError

    spec = parse_focus(text)
    if spec.box_xywh is not None:
        raise SettingsError(f"--focus takes X,Y for a clip (the subject is followed), got the box {text!r}")
    return spec.point_xy


def video_command(
    ctx: typer.Context,
    clips: Annotated[
        list[Path],
        typer.Argument(
            help="Clips: video files, folders of frames, patterns like frames/%05d.png, globs, or folders of videos.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output video, folder or frames/%05d.png pattern; one clip only.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for the outputs: <stem>-refocused.<ext> each.", rich_help_panel=OUTPUT),
    ] = None,
    focus: Annotated[
        str | None,
        typer.Option(
            help="X,Y of the subject in the first frame; it is followed through the clip. (default: auto-focus "
            "picks the subject on the first frame, then it is followed)",
            metavar="X,Y",
            rich_help_panel=FOCUS,
        ),
    ] = None,
    focus_at: Annotated[
        list[str] | None,
        typer.Option(
            help="Focus keyframe: TIME in seconds, or a frame number as 45f; repeat for a focus pull.",
            metavar="TIME:X,Y",
            rich_help_panel=FOCUS,
        ),
    ] = None,
    focus_depth: Annotated[
        float | None,
        typer.Option(
            help=f"Focus on this disparity (0 far .. 1 near) throughout{in_help(FOCUS_DEPTH)}.", rich_help_panel=FOCUS
        ),
    ] = None,
    blur: Annotated[
        float | None,
        typer.Option(
            help=f"CoC radius in pixels per unit disparity difference{in_help(BLUR_K_PX)}. "
            f"(default: the config's, else {DEFAULTS.blur:g})",
            rich_help_panel=FOCUS,
            show_default=False,
        ),
    ] = None,
    blur_at: Annotated[
        list[str] | None,
        typer.Option(
            help="Blur keyframe (TIME as for --focus-at); repeat to change the blur over time.",
            metavar="TIME:K",
            rich_help_panel=FOCUS,
        ),
    ] = None,
    focus_smoothing: Annotated[
        float,
        typer.Option(
            help=f"Time constant that steadies the focus distance; 0 = off{in_help(FOCUS_SMOOTHING_S)}.",
            rich_help_panel=FOCUS,
        ),
    ] = 0.25,
    depth_video: Annotated[
        Path | None, typer.Option(help="A depth clip or image sequence, frame for frame.", rich_help_panel=DEPTH)
    ] = None,
    depth_kind: Annotated[
        str,
        typer.Option(
            help="What the depth clip holds: disparity (white near) or depth (white far).", rich_help_panel=DEPTH
        ),
    ] = "disparity",
    depth: Annotated[
        str, typer.Option(help="Depth source without a clip: auto, model, defocus or two-plane.", rich_help_panel=DEPTH)
    ] = "auto",
    depth_model: Annotated[
        str | None,
        typer.Option(
            help="Learned depth model: a registered name (see `refocus models`), a Hugging Face id or a folder.",
            rich_help_panel=DEPTH,
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never download a model.", rich_help_panel=DEPTH)] = False,
    window: Annotated[
        int, typer.Option(help=f"Frames per window of the depth stage{in_help(WINDOW_FRAMES)}.", rich_help_panel=TIME)
    ] = 16,
    overlap: Annotated[
        int, typer.Option(help=f"Frames shared by neighbouring windows{in_help(OVERLAP_FRAMES)}.", rich_help_panel=TIME)
    ] = 4,
    engine: Annotated[
        Engine,
        typer.Option(help="physics (no weights) or learned (our diffusers model).", rich_help_panel=TIME),
    ] = Engine.physics,
    model: Annotated[
        str | None,
        typer.Option(
            help="The learned engine's checkpoint: a folder or a registered name (default: refocus-small).",
            rich_help_panel=TIME,
            show_default=False,
        ),
    ] = None,
    restore: Annotated[
        Restore | None,
        typer.Option(
            help="Undo the clip's own defocus first: on, auto (only where the fitted blur is worth undoing) or off; "
            f"bokeh-video: always off. (default: the config's, else {DEFAULTS.restore.value})",
            rich_help_panel=TIME,
            show_default=False,
        ),
    ] = None,
    stabilise: Annotated[
        bool,
        typer.Option(
            help="Steady the depth in time (scale and shift, then a motion-gated filter).", rich_help_panel=TIME
        ),
    ] = True,
    aperture: ApertureOption = None,
    blades: BladesOption = None,
    codec: Annotated[
        str, typer.Option(help="Video codec (libx264, libx265, ...).", rich_help_panel=ENCODE)
    ] = "libx264",
    crf: Annotated[
        int, typer.Option(help=f"Constant rate factor (lower = better){in_help(CRF)}.", rich_help_panel=ENCODE)
    ] = 18,
    encoder_preset: Annotated[
        str,
        typer.Option(
            help="The encoder's speed/size trade-off (x264/x265: ultrafast .. veryslow).", rich_help_panel=ENCODE
        ),
    ] = "medium",
    pix_fmt: Annotated[
        str | None,
        typer.Option(help="Output pixel format; default keeps 10-bit where the codec can.", rich_help_panel=ENCODE),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(
            help=f"Frame rate of an image-sequence input{in_help(SEQUENCE_FPS)} (default 24).", rich_help_panel=ENCODE
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output.", rich_help_panel=OUTPUT)
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Image-sequence output: keep the frames already written.", rich_help_panel=OUTPUT
        ),
    ] = False,
    quality: QualityOption = None,
    device: DeviceOption = None,
    config: ConfigOption = None,
    workers: WorkersOption = 1,
    ray: RayOption = None,
    shared_folders: SharedFoldersOption = False,
    skip_existing: SkipExistingOption = False,
    contact_sheet: ContactSheetOption = None,
    json_lines: Annotated[
        bool,
        typer.Option(
            "--json", help="A JSON record per clip (with its focus track) on stdout.", rich_help_panel=RUNTIME
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or messages.", rich_help_panel=RUNTIME)
    ] = False,
) -> None:
    """Refocus clips whose focus is wrong: a new subject followed through each (or focus keyframes), a blur
    strength, depth steady in time, and, when asked (--restore), the clip's own defocus undone first; frame
    count, timestamps, audio and subtitles kept. For sharp clips that only need lens blur: `refocus
    bokeh-video`."""
    batch = batch_options(
        workers, ray, shared_folders, skip_existing, contact_sheet, json_lines=json_lines, quiet=quiet
    )
    check_lens_options(blades=blades, blur=blur, focus_depth=focus_depth)
    check_ranges(
        {
            "--focus-smoothing": (focus_smoothing, FOCUS_SMOOTHING_S),
            "--window": (window, WINDOW_FRAMES),
            "--overlap": (overlap, OVERLAP_FRAMES),
            "--crf": (crf, CRF),
            "--fps": (fps, SEQUENCE_FPS),
        }
    )
    defaults = load_config(config).image  # the same defaults as `refocus image`
    aperture_name, blades_count = aperture_choice(aperture, blades, None, defaults)
    depth_model = pick(depth_model, defaults.depth_model)
    sources, notes = expand_clips(clips)
    outs = plan_clip_outputs(sources, output, out_dir)
    if depth_video is not None and len(sources) > 1:
        raise SettingsError(f"--depth-video is one clip's depth, but {len(sources)} clips were given")
    if resume and batch.placement.ships:
        raise SettingsError("--resume keeps frames written here: use it without --ray, or with --shared-folders")
    if skip_existing:
        check_skippable(outs)
    kernel = None if aperture_name in (None, "disc", "polygon") else Path(aperture_name)
    writes = [output_paths(out) for out in outs] + [RunPaths(writes=(contact_sheet,) if contact_sheet else ())]
    check_run_paths(
        sum((clip_paths(clip) for clip in sources), RunPaths())
        + clip_paths(depth_video)
        + model_reads(kernel, model, depth_model, config)
        + sum(writes, RunPaths(new_folders=(out_dir,) if out_dir else ())),
        overwrite=overwrite or resume or skip_existing,
    )

    from refocus_cli.batch.task import BatchTask
    from refocus_cli.highlights import HighlightSettings
    from refocus_cli.io.run_paths import make_folder
    from refocus_cli.io.video_types import EncodeSettings
    from refocus_cli.video.pipeline import VideoRequest

    if engine is Engine.learned:
        from refocus_cli.learned.engine import resolve_checkpoint

        resolve_checkpoint(model)  # a missing checkpoint is one line before any frame is read
    if depth == "model":  # so is a forced depth model that cannot be had
        from refocus_cli.registry.resolve import resolve_model

        resolve_model(depth_model, "depth", offline=offline, download=True)

    template = VideoRequest(
        input_path=sources[0],
        output_path=outs[0],
        depth_video=depth_video,
        depth_kind=depth_kind,
        depth_source=depth,
        depth_model=depth_model,
        offline=offline,
        focus_point_xy=_focus_point(focus),
        focus_keys=tuple(focus_at or ()),
        focus_disparity=focus_depth,
        blur_k_px=pick(blur, defaults.blur),
        blur_keys=tuple(blur_at or ()),
        window=window,
        overlap=overlap,
        stabilise=stabilise,
        restore="off" if ctx.info_name == "bokeh-video" else pick(restore, defaults.restore).value,
        engine=engine.value,
        model=model,
        focus_smoothing_s=focus_smoothing,
        aperture=aperture_from(aperture_name, blades_count, defaults.rotation, defaults.aspect),
        highlights=HighlightSettings(boost=defaults.highlights, threshold=defaults.highlight_threshold),
        quality=pick(quality, defaults.quality).value,
        device=pick(device, defaults.device).value,
        encode=EncodeSettings(codec=codec, crf=crf, preset=encoder_preset, pix_fmt=pix_fmt),
        sequence_fps=fps,
        overwrite=overwrite,
        resume=resume,
    )
    if out_dir is not None:
        make_folder(out_dir)
    if not quiet:
        for note in notes:  # once every check has passed
            typer.echo(f"refocus: note: {note}", err=True)
    tasks = [
        BatchTask(
            "video",
            clip,
            replace(template, input_path=clip, output_path=out),
            reads=tuple(read_roots(clip) + read_roots(depth_video)),
            outputs=(out.parent if "%" in out.name else out,),
        )
        for clip, out in zip(sources, outs, strict=True)
    ]
    run_batch(
        tasks,
        batch,
        title=f"refocus {ctx.info_name or 'video'}",
        settings=given_options(ctx),
        describe=describe,
        frame_progress=lambda: frame_progress(True),
    )


def describe(result: VideoResult) -> str:
    """What was done to one clip, for its `wrote` line and its contact-sheet row."""
    seconds = result.timings_s["total"]
    return f"{result.frames_written} frames, {result.frames_written / seconds:.2f} fps, depth {result.depth_source}"
