"""Running a batch from a command: the tasks already done skipped (--skip-existing), the rest run here, in local
workers or on Ray, a failure of one collected as one line naming it while the rest go on, a progress bar over
files with its ETA on a terminal, a JSON record per input with --json, and a contact sheet at the end."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from refocus_cli.commands import debug_enabled, echo_error
from refocus_cli.commands.progress import file_progress

if TYPE_CHECKING:
    from refocus_cli.batch.runner import BatchPlacement
    from refocus_cli.batch.task import BatchTask, TaskOutcome


@dataclass(frozen=True)
class BatchOptions:
    """The batch options every batch command shares."""

    placement: BatchPlacement
    skip_existing: bool = False
    contact_sheet: Path | None = None
    json_lines: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class BatchReport:
    """How a batch went, for a command's last word."""

    done: int
    skipped: int
    failures: tuple[str, ...]


def run_batch(
    tasks: list[BatchTask],
    options: BatchOptions,
    *,
    title: str,
    settings: dict[str, Any],
    describe: Callable[[Any], str],
    frame_progress: Callable[[], Any] | None = None,
) -> BatchReport:
    """Run the tasks and report them; exits 1 after the report when any failed.

    `describe(result)` is the parenthesis of the `wrote OUT (...)` line (and of the contact sheet's row);
    `frame_progress`, for one clip run here, makes the progress bar count frames instead of files.
    """
    from refocus_cli.batch.runner import run_tasks, split_done

    todo, skipped = split_done(tasks) if options.skip_existing else (tasks, [])
    for task in skipped:
        if options.json_lines:
            record = {"input": str(task.source), "output": str(task.outputs[0]), "skipped": True}
            typer.echo(json.dumps(record | {"reason": "its outputs exist", "outputs": [str(p) for p in task.outputs]}))
    outcomes: list[TaskOutcome] = []
    start = time.perf_counter()
    in_process = options.placement.ray_address is None and options.placement.workers_for(len(todo)) == 1
    show = sys.stderr.isatty() and not options.quiet and not options.json_lines
    frames = frame_progress is not None and in_process and len(todo) == 1
    try:
        if frames and frame_progress is not None:
            bar: AbstractContextManager[Any] = frame_progress() if show else nullcontext()
            with bar as frames_done, closing(run_tasks(todo, options.placement, frames_done)) as running:
                outcomes.extend(_reported(running, options, describe, True))
        else:
            with file_progress(show, len(todo)) as file_done, closing(run_tasks(todo, options.placement)) as running:
                for outcome in _reported(running, options, describe, in_process):
                    outcomes.append(outcome)
                    if file_done is not None:
                        file_done()
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        typer.echo(interrupted(todo, outcomes), err=True)
        raise typer.Exit(130) from None
    seconds = time.perf_counter() - start
    failures = tuple(outcome.error for outcome in outcomes if outcome.error is not None)
    if options.contact_sheet is not None:
        _write_sheet(options.contact_sheet, title, settings, tasks, outcomes, skipped, describe)
        if not options.quiet and not options.json_lines:
            typer.echo(f"wrote {options.contact_sheet} (contact sheet of {len(tasks)} inputs)", err=True)
    _summary(options, len(tasks), outcomes, skipped, seconds, in_process)
    for message in failures:
        echo_error(message)
    if failures:
        if len(tasks) > 1:
            typer.echo(f"refocus: {len(failures)} of {len(tasks)} inputs failed", err=True)
        raise typer.Exit(1)
    return BatchReport(len(outcomes) - len(failures), len(skipped), failures)


def interrupted(todo: list[BatchTask], outcomes: list[TaskOutcome]) -> str:
    """The one line for a Ctrl-C: what was not written (outputs appear whole or not at all)."""
    if len(todo) == 1:
        return f"refocus: interrupted; nothing was written under {todo[0].outputs[0]}"
    done = sum(outcome.error is None for outcome in outcomes)
    return (
        f"refocus: interrupted; {done} of {len(todo)} inputs were done and their outputs are whole, nothing else "
        "was written (--skip-existing finishes the batch)"
    )


def _reported(
    outcomes: Iterator[TaskOutcome], options: BatchOptions, describe: Callable[[Any], str], in_process: bool
) -> Iterator[TaskOutcome]:
    """Each outcome, once reported."""
    for outcome in outcomes:
        _report(outcome, options, describe, in_process)
        yield outcome


def _report(outcome: TaskOutcome, options: BatchOptions, describe: Callable[[Any], str], in_process: bool) -> None:
    """The outcome's JSON record, or its notes and `wrote` line."""
    if outcome.error is not None:
        if options.json_lines:
            typer.echo(json.dumps({"input": str(outcome.source), "error": outcome.error}))
        return
    result = outcome.result
    if options.json_lines:
        record = result.to_record()
        if not in_process:
            record["worker"] = {"name": outcome.worker, "models_loaded": outcome.models_loaded}
        typer.echo(json.dumps(record))
    elif not options.quiet:
        for note in result.notes:
            typer.echo(f"refocus: note: {note}", err=True)
        typer.echo(f"wrote {result.output_path} ({describe(result)})", err=True)


def _summary(
    options: BatchOptions,
    total: int,
    outcomes: list[TaskOutcome],
    skipped: list[BatchTask],
    seconds: float,
    in_process: bool,
) -> None:
    """One line on skipped inputs; for a batch, the rate and where it ran."""
    if options.quiet or options.json_lines:
        return
    if skipped:
        typer.echo(
            f"refocus: skipped {len(skipped)} of {total} input{'' if total == 1 else 's'}: "
            "their outputs exist (--skip-existing)",
            err=True,
        )
    done = sum(outcome.error is None for outcome in outcomes)
    if len(outcomes) > 1:
        workers = {outcome.worker for outcome in outcomes if outcome.error is None}
        loads = sum(outcome.models_loaded for outcome in outcomes)
        where = "here" if in_process else f"on {len(workers)} worker{'' if len(workers) == 1 else 's'}"
        models = f"; weights loaded {loads} time{'' if loads == 1 else 's'}" if loads else ""
        typer.echo(
            f"refocus: {done} of {len(outcomes)} done in {seconds:.1f} s ({done / max(seconds, 1e-9):.2f} files/s) "
            f"{where}{models}",
            err=True,
        )


def _write_sheet(
    path: Path,
    title: str,
    settings: dict[str, Any],
    tasks: list[BatchTask],
    outcomes: list[TaskOutcome],
    skipped: list[BatchTask],
    describe: Callable[[Any], str],
) -> None:
    """The contact sheet, inputs in the batch's order."""
    from refocus_cli.batch.runner import existing_outputs
    from refocus_cli.io.contact_sheet import ContactSheet, SheetEntry, write_contact_sheet

    by_source = {outcome.source: outcome for outcome in outcomes}
    skipped_sources = {task.source for task in skipped}
    entries = []
    for task in tasks:
        outcome = by_source.get(task.source)
        if task.source in skipped_sources:
            entries.append(SheetEntry(task.source, existing_outputs(task), "skipped", "skipped: its outputs exist"))
        elif outcome is not None and outcome.error is not None:
            entries.append(SheetEntry(task.source, (), "failed", outcome.error))
        elif outcome is not None:
            entries.append(SheetEntry(task.source, existing_outputs(task), "done", describe(outcome.result)))
    shown = tuple((f"--{name.replace('_', '-')}", _shown(value)) for name, value in settings.items())
    sheet = ContactSheet(title=title, settings=shown, entries=tuple(entries))
    write_contact_sheet(sheet, path, overwrite=True)  # refused up front when it exists without --overwrite


def given_options(
    context: typer.Context, *, leave_out: tuple[str, ...] = ("inputs", "clips", "quiet", "json_lines", "contact_sheet")
) -> dict[str, Any]:
    """The options given on the command line (or by environment), as the contact sheet shows the settings."""
    given = ("COMMANDLINE", "ENVIRONMENT")
    return {
        name: value
        for name, value in context.params.items()
        if name not in leave_out and getattr(context.get_parameter_source(name), "name", "") in given
    }


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(getattr(value, "value", value))
