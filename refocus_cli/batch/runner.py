"""Where a batch's tasks run (`BatchPlacement`), which of them are already done (`split_done`), and the outcomes as
they finish (`run_tasks`).

Here: one task after another in this process, on all its threads. `--workers N`: N local processes, one thread
each, reading and writing the files themselves. `--ray ADDRESS`: a task per CPU of the cluster; each task
carries its input's bytes and brings back its output's, which this process writes atomically, unless the
cluster's machines share the folders (`--shared-folders`), when workers read and write them as local workers
do. Every way writes the same bytes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from refocus_cli.batch.ship import pack, run_shipped, write_back
from refocus_cli.batch.task import BatchTask, Progress, TaskOutcome, run_task
from refocus_cli.errors import RefocusError, SettingsError


@dataclass(frozen=True)
class BatchPlacement:
    """Where tasks run: `workers` local processes (1 = this process), or the Ray cluster at `ray_address`
    (`auto`, `local` or host:port), whose workers share this machine's folders when `shared_folders`."""

    workers: int = 1
    ray_address: str | None = None
    shared_folders: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise SettingsError(f"--workers must be 1 or more, got {self.workers}")
        if self.ray_address is not None and self.workers > 1:
            raise SettingsError("give --workers or --ray, not both (Ray runs a task on each CPU of the cluster)")
        if self.shared_folders and self.ray_address is None:
            raise SettingsError("--shared-folders is for --ray (local workers always share this machine's folders)")

    @property
    def ships(self) -> bool:
        """Inputs travel with the tasks and outputs come back (a Ray cluster without shared folders)."""
        return self.ray_address is not None and not self.shared_folders

    def workers_for(self, tasks: int) -> int:
        """Local processes worth starting for `tasks` tasks."""
        return max(1, min(self.workers, tasks))


def is_done(task: BatchTask) -> bool:
    """Every output of the task is there. Outputs are written atomically, so one that is there is complete; a
    task stopped between its outputs (the image, then its depth map) is not done."""
    return task.problem is None and bool(task.outputs) and all(os.path.lexists(path) for path in task.outputs)


def split_done(tasks: list[BatchTask]) -> tuple[list[BatchTask], list[BatchTask]]:
    """(tasks to run, tasks already done). A task to run whose outputs are partly there replaces them: they
    are this batch's own, left by a run that stopped between them."""
    todo, done = [], []
    for task in tasks:
        if is_done(task):
            done.append(task)
        elif task.problem is None and any(os.path.lexists(path) for path in task.outputs):
            todo.append(dataclasses.replace(task, request=dataclasses.replace(task.request, overwrite=True)))
        else:
            todo.append(task)
    return todo, done


def run_tasks(
    tasks: list[BatchTask], placement: BatchPlacement, progress: Progress | None = None
) -> Generator[TaskOutcome, None, None]:
    """Each task's outcome as it finishes (in that order with workers). A task that fails yields its one-line
    error and the rest go on. `progress` (frames of a video) is reported only for tasks run in this process.

    Raises:
        SettingsError: Ray is missing, or no cluster answers at the address.
    """
    workers = placement.workers_for(len(tasks))
    if placement.ray_address is None and workers == 1:  # in the batch's order, failures found early too
        from refocus_cli.pool import run_here

        yield from run_here(partial(run_task, progress=progress), tasks)
        return
    runnable = [task for task in tasks if task.problem is None]
    failed = [run_task(task) for task in tasks if task.problem is not None]  # found while planning: not run
    if placement.ray_address is None:
        from refocus_cli.pool import run_in_processes

        yield from failed
        yield from run_in_processes(run_task, runnable, placement.workers_for(len(runnable)))
        return
    from refocus_cli.pool import ray_connection, run_on_ray

    with ray_connection(placement.ray_address) as ray:  # a cluster that does not answer: before any output
        yield from failed
        if placement.shared_folders:
            yield from run_on_ray(ray, run_task, runnable)
        else:
            by_source = {task.source: task for task in runnable}
            for outcome in run_on_ray(ray, run_shipped, (pack(task) for task in runnable)):
                yield written_here(by_source[outcome.source], outcome)


def written_here(task: BatchTask, outcome: TaskOutcome) -> TaskOutcome:
    """A shipped task's outcome once its files are written here (a failed write fails the task)."""
    if outcome.files is None or outcome.error is not None:
        return dataclasses.replace(outcome, files=None)
    try:
        write_back(task, outcome.files, overwrite=bool(getattr(task.request, "overwrite", False)))
    except RefocusError as error:
        return dataclasses.replace(outcome, files=None, result=None, error=str(error))
    return dataclasses.replace(outcome, files=None)


def existing_outputs(task: BatchTask) -> tuple[Path, ...]:
    """The task's outputs that are there now (for a contact sheet)."""
    return tuple(path for path in task.outputs if os.path.lexists(path))
