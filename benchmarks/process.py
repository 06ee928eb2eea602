"""Timing a whole process: wall time, peak memory and its last JSON line (shared by the benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time


def run_once(command: list[str]) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS in MB, and the --json record of one run."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Drain both pipes while it runs: a child writing more than a pipe holds would otherwise block forever.
    chunks: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda name=name, pipe=pipe: chunks.__setitem__(name, pipe.read()))
        for name, pipe in (("out", process.stdout), ("err", process.stderr))
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    for reader in readers:
        reader.join()
    stdout, stderr = chunks["out"].decode(), chunks["err"].decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{stderr}")
    return wall, usage.ru_maxrss / 1024.0, json.loads(stdout.strip().splitlines()[-1])
