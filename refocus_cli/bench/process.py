"""Timing a whole child process: wall time, peak resident memory (the operating system's own account, wait4's
rusage) and the JSON record on its last line of output."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from refocus_cli.errors import RefocusError


@dataclass(frozen=True)
class ChildRun:
    """One finished child: wall seconds, peak RSS in MB, and the JSON record it printed last."""

    wall_s: float
    peak_rss_mb: float
    record: dict[str, Any]


class ChildFailed(RefocusError):
    """A child process failed: the message names its command and the problem (the last line it wrote on
    stderr); `stderr` holds all it wrote there."""

    def __init__(self, command: list[str], problem: str, stderr: str = "") -> None:
        self.command = command
        self.stderr = stderr
        super().__init__(f"benchmark run failed: {' '.join(command)}: {problem}")


def run_child(command: list[str], *, env: dict[str, str] | None = None) -> ChildRun:
    """Run `command` to the end and measure it.

    Both pipes are drained while it runs: a child writing more than a pipe holds would otherwise block.

    Raises:
        ChildFailed: the child exited non-zero, or its last line of output is not JSON.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
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
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = chunks["out"].decode(), chunks["err"].decode()
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise ChildFailed(command, _last_line(stderr), stderr)
    try:
        record = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise ChildFailed(command, "its last line is not a JSON record", stderr) from exc
    return ChildRun(wall, usage.ru_maxrss / 1024.0, record)  # ru_maxrss is in KiB on Linux


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"
