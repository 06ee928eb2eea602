"""One task of a batch (`BatchTask`: an input, the job's request, what it reads and writes) and what came of it
(`TaskOutcome`), with `run_task`, which any runner calls in any process."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

JobKind = Literal["image", "video", "stack"]
Progress = Callable[[int, int], None]

MODEL_LOADERS = (
    ("refocus_cli.depth.learned", "_estimator"),
    ("refocus_cli.learned.engine", "_loaded"),
)
"""The cached loaders of weights (module, function): their cache misses are the models a task loaded."""


@dataclass(frozen=True)
class BatchTask:
    """One input of a batch.

    Attributes:
        kind: the job that runs `request` (`refocus_image`, `refocus_video` or `make_focal_stack`).
        source: the input, as named in messages.
        request: the job's request; None when `problem` is set.
        reads: every file or folder the job reads (input, depth file or clip); shipped to a worker that does
            not share this machine's files.
        outputs: every file or folder it writes, the main output first (a depth map and its preview after).
        problem: the error found while planning (a missing input), or its one line: the task fails without
            running (raised with REFOCUS_DEBUG=1, for its traceback).
    """

    kind: JobKind
    source: Path
    request: Any
    reads: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    problem: Exception | str | None = None


@dataclass(frozen=True)
class TaskOutcome:
    """What a task did: the job's result (its `to_record()` is the `--json` line) or its one-line error.

    Attributes:
        worker: `host:pid` of the process that ran it.
        models_loaded: weights this task had to load (0 when the worker had them from an earlier task).
        seconds: wall time of the job.
        files: with shipping, what the job wrote, (path relative to `outputs`' folders, bytes), for the driver
            to write; None otherwise.
    """

    source: Path
    result: Any = None
    error: str | None = None
    worker: str = ""
    models_loaded: int = 0
    seconds: float = 0.0
    files: tuple[tuple[str, bytes], ...] | None = None


def run_task(task: BatchTask, progress: Progress | None = None) -> TaskOutcome:
    """Run one task where it stands (the files are this process's); any error becomes the outcome's one line.

    `progress(n, total)` is passed to the video job (frames).
    """
    from refocus_cli.commands import debug_enabled, item_error

    if task.problem is not None:
        if debug_enabled() and isinstance(task.problem, Exception):
            raise task.problem
        return TaskOutcome(task.source, error=str(task.problem), worker=worker_name())
    loads_before = models_loaded()
    start = time.perf_counter()
    try:
        result = run_job(task.kind, task.request, progress)
    except Exception as error:
        if debug_enabled():
            raise
        return TaskOutcome(
            task.source,
            error=item_error(task.source, error),
            worker=worker_name(),
            models_loaded=models_loaded() - loads_before,
            seconds=time.perf_counter() - start,
        )
    return TaskOutcome(
        task.source,
        result=result,
        worker=worker_name(),
        models_loaded=models_loaded() - loads_before,
        seconds=time.perf_counter() - start,
    )


def run_job(kind: JobKind, request: Any, progress: Progress | None = None) -> Any:
    """The job's own library call for `request`."""
    if kind == "image":
        from refocus_cli.image.tiled import refocus_image  # the whole image, or tiles within the memory budget

        return refocus_image(request)
    if kind == "video":
        from refocus_cli.video.pipeline import refocus_video

        return refocus_video(request, progress)
    from refocus_cli.stack.make import make_focal_stack

    return make_focal_stack(request)


def models_loaded() -> int:
    """Weights loaded in this process so far (what the loaders hold), without importing a loader."""
    count = 0
    for module_name, function in MODEL_LOADERS:
        module = sys.modules.get(module_name)
        if module is not None:
            count += getattr(module, function).cache_info().currsize
    return count


def worker_name() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"
