"""`refocus simulate`: training pairs and stacking groups for refocus models, locally or on a Ray cluster."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from refocus_cli.commands import echo_error
from refocus_cli.commands.limits import SIMULATE_COUNT, WORKERS, check_ranges, in_help
from refocus_cli.io.dataset_layout import check_dataset_folder
from refocus_cli.io.run_paths import RunPaths, check_run_paths
from refocus_cli.modes import Device, SceneKind, StackCapture

DATA, SCALE, RUNTIME = "Data", "Scale", "Runtime"


def simulate_command(
    source: Annotated[
        str,
        typer.Option(
            help="procedural (layered scenes with exact ground truth), or a folder of photos with depth files "
            "beside them (<stem>-depth.png, depth/<stem>.png, ...); photos without one get depth as "
            "`refocus image` finds it.",
            rich_help_panel=DATA,
        ),
    ],
    out: Annotated[Path, typer.Option(help="The dataset folder to make.", rich_help_panel=DATA)],
    count: Annotated[
        int,
        typer.Option(
            help=f"Source/target pairs to make{in_help(SIMULATE_COUNT)}; not scenes: a scene gives "
            "pairs.per_scene of them (4 unless the config says), so scenes = count / pairs per scene, rounded up, "
            "and the train/validation/test split is by scene (a note says when a split gets none).",
            rich_help_panel=DATA,
        ),
    ],
    seed: Annotated[int, typer.Option(help="Decides every random choice.", rich_help_panel=DATA)] = 0,
    scenes: Annotated[
        SceneKind | None,
        typer.Option(
            help="Procedural scenes: layered, or hard (5-9 overlapping layers, thin wires and strokes, fine "
            "texture, lights behind edges). Overrides the config's scene.kind (default layered).",
            rich_help_panel=DATA,
            show_default=False,
        ),
    ] = None,
    stacks: Annotated[
        StackCapture | None,
        typer.Option(
            help="Stacking groups as ideal frames, or as a camera captures them (focus breathing, sub-pixel "
            "drift, exposure flicker; recorded per frame). Overrides the config's stack.capture (default ideal).",
            rich_help_panel=DATA,
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML file of distributions and sizes (see the README); unset keys keep their defaults.",
            rich_help_panel=DATA,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish a dataset a stopped run began (same options).", rich_help_panel=DATA),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help=f"Local worker processes{in_help(WORKERS)} (default: the cores).",
            rich_help_panel=SCALE,
            show_default=False,
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run the scenes on a Ray cluster: its address, auto (a running one), or local (start one). "
            "Needs refocus-cli\\[ray].",
            rich_help_panel=SCALE,
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="Where photos are rendered.", rich_help_panel=RUNTIME)] = Device.auto,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print the run's record as one JSON line.", rich_help_panel=RUNTIME)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or messages.", rich_help_panel=RUNTIME)
    ] = False,
) -> None:
    """Simulate training data: pairs of one scene at different focus planes, blur levels and apertures, and
    stacking groups (frames over the depth range, in-focus masks, their composite), with a manifest row per
    sample and a train/validation/test split by scene."""
    check_ranges({"--count": (count, SIMULATE_COUNT), "--workers": (workers, WORKERS)})
    photos = () if source == "procedural" else (Path(source),)
    check_run_paths(
        RunPaths(reads=(config,) if config else (), read_folders=photos, fill_folders=(out,)), overwrite=False
    )
    check_dataset_folder(out, resume=resume)
    from refocus_cli.devices import resolve_device
    from refocus_cli.pool import default_workers
    from refocus_cli.simulate.pipeline import SimulateRequest, simulate
    from refocus_cli.simulate.settings import load_settings

    request = SimulateRequest(
        source=source,
        out=out,
        count=count,
        seed=seed,
        settings=load_settings(
            config,
            scene_kind=None if scenes is None else scenes.value,
            stack_capture=None if stacks is None else stacks.value,
        ),
        workers=default_workers() if workers is None else workers,
        ray_address=ray,
        resume=resume,
        device=resolve_device(device.value).type,
    )
    with _scene_progress(sys.stderr.isatty() and not quiet and not json_lines) as advance:
        result = simulate(request, advance)
    if json_lines:
        typer.echo(json.dumps(result.to_record()))
    elif not quiet:
        for note in result.notes:
            typer.echo(f"refocus: note: {note}", err=True)
        splits = ", ".join(f"{name} {counts['scenes']}" for name, counts in result.splits.items())
        typer.echo(
            f"wrote {result.out}: {_count(result.pairs, 'pair')} and {_count(result.scenes, 'stacking group')} "
            f"from {_count(result.scenes, 'scene')} ({result.pairs_per_scene} pairs a scene; scenes by split: "
            f"{splits}); {result.made} made, {result.resumed} already there, {result.seconds:.1f} s",
            err=True,
        )
    if result.failures:
        echo_error("\n".join(result.failures))
        raise typer.Exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@contextmanager
def _scene_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar of scenes on stderr, or nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("scenes"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task("simulate", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
