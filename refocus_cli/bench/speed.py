"""Speed of the engines: median render time, megapixels per second and peak memory on the motorcycle photo
resized to each size, beside the naive gather baseline. Each case runs in a fresh child process
(`refocus_cli.bench.speed_case`), so its peak memory (the process's peak RSS from wait4, or the CUDA peak
allocation) is its own."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

from refocus_cli.bench.engines import BASELINE_NAME, GATHER, BenchEngine
from refocus_cli.bench.plan import SpeedPlan
from refocus_cli.bench.process import run_child
from refocus_cli.bench.report import BenchRow, Better, StepResult

GATHER_CHANNEL_TAPS_PER_S = 1.0e10
"""The naive gather's speed on a 2-core CPU, in kernel taps times channels per second (measured 1.2e10): it
estimates whether the baseline finishes within `SpeedPlan.gather_limit_s`."""


@dataclass(frozen=True)
class SpeedMeasure:
    """One engine at one size and K: seconds of the timed runs and peak memory in MB (process RSS on the CPU,
    device allocation on CUDA)."""

    runs_s: tuple[float, ...]
    peak_mb: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s)


def estimated_gather_s(width: int, height: int, blur_k_px: float, device: str) -> float:
    """Seconds the naive gather takes per render at most: it blurs the whole image once per whole radius up to
    K (the largest disparity difference is at most 1), with (2r+1)^2 taps each, on 3 channels.

    >>> round(estimated_gather_s(640, 480, 24.0, "cpu"), 1)  # measured: 1.1 s
    2.2
    """
    radius = int(blur_k_px) + 1
    taps = (radius + 1) * (2 * radius + 1) * (2 * radius + 3) / 3  # sum of (2r+1)^2 for r = 0..radius
    seconds = width * height * 3 * taps / GATHER_CHANNEL_TAPS_PER_S
    return seconds / 50.0 if device == "cuda" else seconds


def measure_engine(
    engine: BenchEngine, width: int, height: int, blur_k_px: float, plan: SpeedPlan, device: str
) -> SpeedMeasure:
    """Run one speed case in a child process and read its timings and peak memory."""
    command = [sys.executable, "-m", "refocus_cli.bench.speed_case", "--engine", engine.name]
    command += ["--size", f"{width}x{height}", "--blur", f"{blur_k_px:g}", "--runs", str(plan.runs)]
    command += ["--budget", f"{plan.budget_s:g}", "--device", device]
    if engine.checkpoint is not None:
        command += ["--checkpoint", str(engine.checkpoint)]
    child = run_child(command)
    peak = child.record["peak_device_mb"]
    return SpeedMeasure(tuple(child.record["runs_s"]), child.peak_rss_mb if peak is None else float(peak))


def speed_rows(
    name: str, case: str, megapixels: float, ours: SpeedMeasure, baseline: SpeedMeasure | None, note: str, device: str
) -> tuple[BenchRow, ...]:
    """Median time, throughput and peak memory of one engine beside the baseline's (None: not run)."""
    runs = f"median of {len(ours.runs_s)} runs after a warm-up"
    if baseline is not None:
        runs += f", baseline {len(baseline.runs_s)}"
    detail = "; ".join(part for part in (runs, note) if part)
    memory = "peak CUDA memory" if device == "cuda" else "peak RSS"
    metrics: tuple[tuple[str, str, Better], ...] = (
        ("median time", "s", "lower"),
        ("throughput", "MP/s", "higher"),
        (memory, "MB", "lower"),
    )

    def figures(measure: SpeedMeasure) -> tuple[float, float, float]:
        return measure.median_s, megapixels / measure.median_s, measure.peak_mb

    base: tuple[float | None, ...] = (None, None, None) if baseline is None else figures(baseline)
    return tuple(
        BenchRow(name, case, metric, value, BASELINE_NAME, base_value, unit, better, detail)
        for (metric, unit, better), value, base_value in zip(metrics, figures(ours), base, strict=True)
    )


def speed_case_step(
    width: int, height: int, blur_k_px: float, engines: list[BenchEngine], plan: SpeedPlan, device: str
) -> StepResult:
    """Every engine and the gather baseline at one size and K, each in its own process."""
    estimate = estimated_gather_s(width, height, blur_k_px, device)
    baseline, note = None, ""
    if estimate <= plan.gather_limit_s:
        baseline = measure_engine(GATHER, width, height, blur_k_px, plan, device)
    else:
        note = f"baseline not run: about {estimate:.0f} s a render (limit {plan.gather_limit_s:g} s)"
    case = f"{width}x{height}, K {blur_k_px:g}"
    rows: list[BenchRow] = []
    for engine in engines:
        ours = measure_engine(engine, width, height, blur_k_px, plan, device)
        rows += speed_rows(engine.name, case, width * height / 1e6, ours, baseline, note, device)
    return StepResult(tuple(rows))
