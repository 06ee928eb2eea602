"""Who runs a list of independent tasks: this process, local worker processes, or the tasks of a Ray cluster.

Each runner takes a picklable `function` and its items and yields `function(item)` as each finishes (in the order
they finish). Workers live for the whole run, so what a task caches in its process (a loaded model) serves the
next task that lands there; every task in a worker runs on one thread, so its bytes do not depend on who ran it.
Nothing here knows what a task does: `refocus simulate` and the batches of `refocus image`, `video` and `stack`
share it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from itertools import islice
from typing import Any, TypeVar

from refocus_cli.errors import SettingsError

RAY_EXTRA = "pip install 'refocus-cli[ray]'"
BACKLOG_PER_WORKER = 2
"""Tasks handed out ahead per worker: enough to keep workers busy, few enough to bound memory (a task may carry
its input's bytes)."""

STOP_WAIT_S = 30.0
"""How long an interrupted run waits for its workers' tasks to unwind before ending them anyway."""

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


def default_workers() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_stopping = False
"""Set in a worker process by its first SIGINT: the tasks still queued for it end at once."""


_in_task = False
"""A worker is running a task (a SIGINT between tasks only marks it stopping: no traceback from its loop)."""


def _stop_on_interrupt(signum: int, frame: object) -> None:
    """A worker's SIGINT handler: stop this task (KeyboardInterrupt unwinds it, temporary files removed) and
    every task queued after it."""
    global _stopping
    _stopping = True
    if _in_task:
        raise KeyboardInterrupt


def _start_worker() -> None:
    signal.signal(signal.SIGINT, _stop_on_interrupt)


def on_one_thread(function: Callable[[Item], Outcome], item: Item) -> Outcome:
    """`function(item)` with torch on one thread (restored after), as every worker runs a task."""
    global _in_task
    if _stopping:
        raise KeyboardInterrupt
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    _in_task = True
    try:
        return function(item)
    finally:
        _in_task = False
        torch.set_num_threads(threads)


def run_here(function: Callable[[Item], Outcome], items: Iterable[Item]) -> Iterator[Outcome]:
    """Task after task in this process, on all its threads."""
    for item in items:
        yield function(item)


def run_in_processes(function: Callable[[Item], Outcome], items: Iterable[Item], workers: int) -> Iterator[Outcome]:
    """Up to `workers` local processes (spawned, so no thread state is inherited), one task each at a time."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker) as pool:
        pending: set[Future[Outcome]] = set()
        queue = iter(items)  # pulled as workers free up: an item may be made (read) only when it is handed out
        try:
            while True:
                for item in islice(queue, BACKLOG_PER_WORKER * workers - len(pending)):
                    pending.add(pool.submit(on_one_thread, function, item))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BaseException:  # Ctrl-C, or the caller stopped: no new task starts, running ones are interrupted
            running = {future for future in pending if not future.cancel()}
            _interrupt(pool)
            wait(running, timeout=STOP_WAIT_S)  # each unwinds its task, removing its temporary files
            _end(pool)  # then nothing is left for a worker to do but tear down its interpreter: not waited for
            raise


def _end(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers (their tasks have unwound)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        if process.is_alive():
            process.kill()


def _interrupt(pool: ProcessPoolExecutor) -> None:
    """SIGINT to the pool's workers (a Ctrl-C at a terminal reaches them anyway): each unwinds its task as this
    process does, removing its temporary files, and the pool's shutdown then waits only for that."""
    for process in list(getattr(pool, "_processes", {}).values()):
        if process.is_alive() and process.pid is not None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)


@contextmanager
def ray_connection(address: str) -> Iterator[Any]:
    """Ray, connected to the cluster at `address` (`auto` finds a running one; `local` starts one here) for
    the duration; the cluster's workers need refocus-cli installed (the same version).

    Raises:
        SettingsError: Ray is not installed, or no cluster answers at `address`.
    """
    try:
        import ray
    except ImportError:
        raise SettingsError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    try:
        ray.init(
            address=None if address == "local" else address,
            logging_level=logging.WARNING,
            log_to_driver=False,
            include_dashboard=False if address == "local" else None,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        reason = str(error).split(". ", 1)[0].rstrip(".")
        raise SettingsError(f"--ray {address}: no Ray cluster answers there ({reason})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def ray_workers(ray: Any) -> int:
    """The CPUs of the cluster `ray` is connected to: one task runs on each."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_on_ray(ray: Any, function: Callable[[Item], Outcome], items: Iterable[Item]) -> Iterator[Outcome]:
    """The same tasks on the cluster `ray` is connected to (see `ray_connection`), a CPU each, at most a small
    backlog per CPU in flight."""
    task = ray.remote(num_cpus=1)(on_one_thread)
    limit = BACKLOG_PER_WORKER * ray_workers(ray)
    queue = iter(items)
    pending: list[Any] = []
    try:
        while True:
            pending += [task.remote(function, item) for item in islice(queue, limit - len(pending))]
            if not pending:
                return
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    except BaseException:  # Ctrl-C, or the caller stopped: the tasks in flight are cancelled
        for ref in pending:
            ray.cancel(ref)
        raise
