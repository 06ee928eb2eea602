"""Progress bars on stderr (rich): files of a batch with the time left, or the frames of one clip with fps and the
time left. Each is nothing when disabled (not a terminal, --quiet, --json)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def file_progress(enabled: bool, total: int) -> Iterator[Callable[[], None] | None]:
    """A rich progress bar of files with the ETA on stderr, or None."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("files"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("batch", total=total)
        yield lambda: bar.advance(task)


class frame_progress:
    """A rich progress bar of frames with fps and ETA on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("frames"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[fps]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("video", total=None, fps="")

        def advance(count: int, total: int) -> None:
            self._bar.update(task, total=total, advance=count)
            speed = self._bar.tasks[0].speed
            self._bar.update(task, fps=f"{speed:.2f} fps" if speed else "")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
