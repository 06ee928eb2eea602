"""`refocus simulate` as a library call: plan the scenes, render the missing ones, write the dataset.

from refocus_cli.simulate.pipeline import SimulateRequest, simulate
result = simulate(SimulateRequest(source="procedural", out=Path("data"), count=1000, seed=0))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from refocus_cli.errors import SettingsError
from refocus_cli.pool import on_one_thread, ray_connection, run_here, run_in_processes, run_on_ray
from refocus_cli.simulate.dataset import (
    dataset_record,
    is_done,
    prepare_folder,
    write_manifest,
    write_scene,
)
from refocus_cli.simulate.runners import SceneOutcome, SceneTask
from refocus_cli.simulate.settings import SimulationSettings
from refocus_cli.simulate.sources import PROCEDURAL, SceneSpec, empty_split_note, plan_scenes

Progress = Callable[[int, int], None]
"""Called with (scenes finished, scenes in the run) after each scene, resumed ones counted from the start."""


@dataclass(frozen=True)
class SimulateRequest:
    """A simulation run.

    Attributes:
        source: "procedural", or a folder of photos (with depth files beside them, or depth from the providers).
        out: the dataset folder (made here; its parent must exist).
        count: source/target pairs to make, not scenes: `settings.pairs.per_scene` to a scene, so
            ceil(count / per_scene) scenes, each also with one stacking group; the split is by scene.
        seed: decides every random choice; the same seed gives the same files.
        settings: the distributions and fixed choices (`--config`).
        workers: local processes (1: render here); ignored with `ray_address`.
        ray_address: a Ray cluster's address, `auto`, or `local`; None runs locally.
        resume: finish a dataset a stopped run began (same source, seed, count and settings).
        device: where the engine renders photos ("cpu" or "cuda"); procedural scenes render on the CPU.
    """

    source: str
    out: Path
    count: int
    seed: int = 0
    settings: SimulationSettings = field(default_factory=SimulationSettings)
    workers: int = 1
    ray_address: str | None = None
    resume: bool = False
    device: str = "cpu"


@dataclass(frozen=True)
class SimulateResult:
    """What a run made; `to_record()` is its `--json` line."""

    out: Path
    scenes: int
    pairs: int
    rows: int
    made: int
    pairs_made: int
    resumed: int
    failures: tuple[str, ...]
    splits: dict[str, dict[str, int]]
    runner: str
    seconds: float
    pairs_per_scene: int = 1
    notes: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "scenes": self.scenes,
            "pairs": self.pairs,
            "pairs_per_scene": self.pairs_per_scene,
            "manifest_rows": self.rows,
            "made": self.made,
            "pairs_made": self.pairs_made,
            "resumed": self.resumed,
            "failed": list(self.failures),
            "splits": self.splits,
            "runner": self.runner,
            "seconds": round(self.seconds, 3),
            "pairs_per_second": round(self.pairs_made / self.seconds, 4) if self.seconds > 0 else None,
            "notes": list(self.notes),
        }


def simulate(request: SimulateRequest, progress: Progress | None = None) -> SimulateResult:
    """Make (or finish) a dataset; scenes that fail (a bad photo) are reported, the others still written.

    Raises:
        SettingsError: bad count or workers, Ray missing or unreachable, --resume on another run's dataset.
        InputError: a folder source that is missing or holds no photos.
        OutputError: the dataset folder cannot be made or written, or holds something else.
    """
    start = time.perf_counter()
    if request.workers < 1:
        raise SettingsError(f"--workers must be 1 or more, got {request.workers}")
    settings = request.settings
    plan = plan_scenes(request.source, request.count, request.seed, settings.pairs.per_scene, settings.split)
    record = dataset_record(request.source, request.seed, request.count, settings, plan)
    with ExitStack() as session:  # a cluster that does not answer fails before the dataset folder is made
        ray = session.enter_context(ray_connection(request.ray_address)) if request.ray_address else None
        prepare_folder(request.out, record, resume=request.resume)
        todo = [spec for spec in plan if not is_done(request.out, spec)]
        resumed = len(plan) - len(todo)
        if progress is not None:
            progress(resumed, len(plan))
        outcomes, runner = _runner(request, todo, ray)
        failures, made, pairs_made = [], 0, 0
        for outcome in outcomes:
            if outcome.files is None:
                failures.append(outcome.error or f"{outcome.spec.scene_id}: failed")
            else:
                write_scene(request.out, outcome.files)
                made += 1
                pairs_made += outcome.spec.pairs
            if progress is not None:
                progress(resumed + made + len(failures), len(plan))
    rows = write_manifest(request.out, plan)
    scenes_per_split = {name: counts["scenes"] for name, counts in record["splits"].items()}
    photos = request.source != PROCEDURAL
    note = empty_split_note(scenes_per_split, settings.split, settings.pairs.per_scene, photos=photos)
    return SimulateResult(
        out=request.out,
        scenes=len(plan),
        pairs=record["pairs"],
        rows=rows,
        made=made,
        pairs_made=pairs_made,
        resumed=resumed,
        failures=tuple(failures),
        splits=record["splits"],
        runner=runner,
        seconds=time.perf_counter() - start,
        pairs_per_scene=settings.pairs.per_scene,
        notes=(note,) if note else (),
    )


def _runner(request: SimulateRequest, todo: list[SceneSpec], ray: Any) -> tuple[Iterator[SceneOutcome], str]:
    """The outcomes' iterator and the runner's name for the record."""
    task = SceneTask(request.settings, request.device)
    if ray is not None:
        return run_on_ray(ray, task, todo), f"ray:{request.ray_address}"
    workers = min(request.workers, max(1, len(todo)))
    if workers == 1:  # on one thread too, so a scene's bytes do not depend on the runner
        return run_here(partial(on_one_thread, task), todo), "local:1"
    return run_in_processes(task, todo, workers), f"local:{workers}"
