"""Timing a whole process: wall time, peak memory and its last JSON line (shared by the benchmarks).

The measurement lives in the library (`refocus_cli.bench.process.run_child`, used by `refocus bench`); this is
the benchmarks' tuple-shaped view of it.
"""

from __future__ import annotations

from refocus_cli.bench.process import ChildFailed, run_child


def run_once(command: list[str]) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS in MB, and the --json record of one run."""
    try:
        run = run_child(command)
    except ChildFailed as error:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{error.stderr}") from None
    return run.wall_s, run.peak_rss_mb, run.record
