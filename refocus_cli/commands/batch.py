"""Running a batch of photos: each input refocused in turn, a failure of one (expected or not) collected as one
line naming it while the rest go on, progress on a terminal, a JSON record per input with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from refocus_cli.commands import debug_enabled, item_error

if TYPE_CHECKING:
    from refocus_cli.image.request import ImageRequest


@dataclass(frozen=True)
class Failure:
    """An input that could not be refocused, and why (one line)."""

    source: Path
    message: str


def run_batch(
    jobs: list[tuple[Path, Path]],
    request_for: Callable[[Path, Path], ImageRequest],
    *,
    json_lines: bool,
    quiet: bool,
) -> list[Failure]:
    """Refocus each (input, output); a RefocusError fails that item only. Progress on a terminal, records on --json."""
    from refocus_cli.image.tiled import refocus_image  # the whole image, or tiles within the memory budget

    failures: list[Failure] = []
    show_progress = sys.stderr.isatty() and not quiet and not json_lines
    with _progress(show_progress, len(jobs)) as advance:
        for source, out in jobs:
            try:
                result = refocus_image(request_for(source, out))
            except Exception as error:
                if debug_enabled():
                    raise
                message = item_error(source, error)
                failures.append(Failure(source, message))
                if json_lines:
                    typer.echo(json.dumps({"input": str(source), "error": message}))
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
