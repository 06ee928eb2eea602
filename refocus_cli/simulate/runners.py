"""Who renders the scenes: this process, local worker processes, or the tasks of a Ray cluster.

Each runner takes the same scene tasks and yields each scene's outcome as it finishes; the caller writes
them. Every worker renders on one thread, so a scene's bytes do not depend on who rendered it. Workers send
bytes back to the caller, so Ray workers need no shared file system, and a killed worker leaves nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from refocus_cli.errors import RefocusError, SettingsError
from refocus_cli.simulate.scene import SceneFiles, simulate_scene
from refocus_cli.simulate.settings import SimulationSettings
from refocus_cli.simulate.sources import SceneSpec

RAY_EXTRA = "pip install 'refocus-cli[ray]'"


@dataclass(frozen=True)
class SceneOutcome:
    """A finished task: the scene's files, or the one-line error that stopped it (a bad photo, say)."""

    spec: SceneSpec
    files: SceneFiles | None = None
    error: str | None = None


def run_scene_task(spec: SceneSpec, settings: SimulationSettings, device: str) -> SceneOutcome:
    """One scene on one thread; a user-facing error becomes the outcome's message instead of an exception
    (exceptions with extra arguments do not cross process boundaries intact)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return SceneOutcome(spec, files=simulate_scene(spec, settings, device=device))
    except RefocusError as error:
        return SceneOutcome(spec, error=str(error))
    finally:
        torch.set_num_threads(threads)


def run_in_process(specs: list[SceneSpec], settings: SimulationSettings, device: str) -> Iterator[SceneOutcome]:
    """Scene after scene, here."""
    for spec in specs:
        yield run_scene_task(spec, settings, device)


def run_in_processes(
    specs: list[SceneSpec], settings: SimulationSettings, device: str, workers: int
) -> Iterator[SceneOutcome]:
    """Up to `workers` local processes (spawned, so no thread state is inherited), a scene each at a time."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set[Future[SceneOutcome]] = set()
        queue = list(reversed(specs))
        while queue or pending:
            while queue and len(pending) < 2 * workers:  # a small backlog keeps workers busy, memory bounded
                pending.add(pool.submit(run_scene_task, queue.pop(), settings, device))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


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


def run_on_ray(ray: Any, specs: list[SceneSpec], settings: SimulationSettings, device: str) -> Iterator[SceneOutcome]:
    """The same tasks on the cluster `ray` is connected to (see `ray_connection`), a CPU each."""
    task = ray.remote(num_cpus=1)(run_scene_task)
    pending = [task.remote(spec, settings, device) for spec in specs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
