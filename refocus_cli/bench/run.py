"""`run_bench`: the bench's steps in order, each adding rows to its section, with progress reported per step."""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from refocus_cli.bench.engines import PHYSICS, BenchEngine, learned_engines
from refocus_cli.bench.plan import BenchPlan, plan_for
from refocus_cli.bench.report import BenchReport, BenchRequest, BenchRow, BenchSection, Environment, StepResult

Progress = Callable[[int, int, str], None]
"""progress(steps done, steps in all, label of the step starting now)."""


@dataclass(frozen=True)
class BenchStep:
    """One unit of work: its section, a label for progress, and the call that measures it."""

    section: str
    label: str
    run: Callable[[], StepResult]


def bench_steps(request: BenchRequest, plan: BenchPlan, engines: list[BenchEngine], device: str) -> list[BenchStep]:
    """The steps of the request's sections, in the report's order."""
    from refocus_cli.bench.fidelity import fidelity_step
    from refocus_cli.bench.flicker import flicker_step
    from refocus_cli.bench.fusion import fusion_step
    from refocus_cli.bench.real import RealSection
    from refocus_cli.bench.real_stacks import DEFAULT_DATA_DIR
    from refocus_cli.bench.restore_gain import restore_step
    from refocus_cli.bench.speed import speed_case_step
    from refocus_cli.bench.video_speed import video_speed_step

    seed = request.seed
    steps: list[BenchStep] = []
    if "speed" in request.sections:
        s = plan.speed
        for width, height in s.sizes_wh:
            for k in s.blurs_k_px:
                run = partial(speed_case_step, width, height, k, engines, s, device)
                steps.append(BenchStep("speed", f"speed {width}x{height}, K {k:g}", run))
        steps.append(BenchStep("speed", "video fps", partial(video_speed_step, s, device, seed)))
    if "fidelity" in request.sections:
        f = plan.fidelity
        for k in f.blurs_k_px:
            steps.append(
                BenchStep("fidelity", f"renderers, K {k:g}", partial(fidelity_step, f, k, engines, device, seed))
            )
        for k in f.blurs_k_px:
            run = partial(fidelity_step, f, k, engines, device, seed, hard=True)
            steps.append(BenchStep("fidelity", f"renderers, hard scenes, K {k:g}", run))
        for k in f.restore_blurs_k_px:
            steps.append(BenchStep("fidelity", f"restore, K {k:g}", partial(restore_step, f, k, seed)))
        steps.append(BenchStep("fidelity", "focus stacking", partial(fusion_step, f, seed)))
        steps.append(BenchStep("fidelity", "video flicker", partial(flicker_step, f, device, seed)))
    if "real" in request.sections:
        real = RealSection(plan.real, Path(request.data) if request.data else DEFAULT_DATA_DIR, engines)
        stacks = real.stacks()
        for files in stacks:
            steps.append(BenchStep("real", f"real {files.name}", partial(real.stack_step, files)))
        if stacks:
            steps.append(BenchStep("real", "real photos: mean", real.mean_step))
        else:
            steps.append(BenchStep("real", "real photos", lambda: StepResult(notes=(real.skip_note(),))))
    if "peers" in request.sections:
        steps += peers_steps(plan, Path(request.data) if request.data else DEFAULT_DATA_DIR, seed)
    return steps


def peers_steps(plan: BenchPlan, data_dir: Path, seed: int) -> list[BenchStep]:
    """The peers section's steps; one note instead on a quick run (its plan has none)."""
    from refocus_cli.bench.peers_step import fusion_peers_step, renderer_peers_step

    if plan.peers is None:
        note = "peers: skipped on a quick run (the side-by-side runs take minutes; run without --quick)"
        return [BenchStep("peers", "peers", lambda: StepResult(notes=(note,)))]
    return [
        BenchStep("peers", "peers: fusion", partial(fusion_peers_step, data_dir)),
        BenchStep("peers", "peers: renderer", partial(renderer_peers_step, plan.peers, seed)),
    ]


def environment(device: str) -> Environment:
    """The machine this process runs on, with the device's name (the CPU's model for the CPU)."""
    import torch

    if device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = _cpu_model() or platform.processor() or platform.machine()
    return Environment(
        torch_version=torch.__version__,
        device=device,
        device_name=name,
        cpu_count=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(),
        python_version=platform.python_version(),
        platform=platform.platform(terse=True),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")


def run_bench(request: BenchRequest, progress: Progress | None = None) -> BenchReport:
    """Run the requested sections and gather their rows.

    Raises:
        RefocusError: a bad request (CUDA asked for without one, a bad --model), or missing bench inputs.
    """
    from refocus_cli.devices import resolve_device

    start = time.perf_counter()
    device = resolve_device(request.device).type
    learned, notes = learned_engines(Path(request.model) if request.model else None, device)
    engines = [PHYSICS, *learned]
    steps = bench_steps(request, plan_for(request.quick), engines, device)
    rows: dict[str, list[BenchRow]] = {name: [] for name in request.sections}
    section_notes: dict[str, list[str]] = {name: [] for name in request.sections}
    seconds = dict.fromkeys(request.sections, 0.0)
    for done, step in enumerate(steps):
        if progress is not None:
            progress(done, len(steps), step.label)
        clock = time.perf_counter()
        result = step.run()
        seconds[step.section] += time.perf_counter() - clock
        rows[step.section] += result.rows
        section_notes[step.section] += result.notes
    if progress is not None:
        progress(len(steps), len(steps), "done")
    sections = tuple(
        BenchSection(name, tuple(rows[name]), tuple(section_notes[name]), seconds[name]) for name in request.sections
    )
    return BenchReport(
        request=request,
        environment=environment(device),
        sections=sections,
        notes=tuple(notes),
        seconds=time.perf_counter() - start,
        engines=tuple(engine.name for engine in engines),
    )
