"""Timing a whole process: wall time, peak memory and its last JSON line (shared by the benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import time


def run_once(command: list[str]) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS in MB, and the --json record of one run."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stdout = process.stdout.read().decode() if process.stdout else ""
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{stderr}")
    return wall, usage.ru_maxrss / 1024.0, json.loads(stdout.strip().splitlines()[-1])
