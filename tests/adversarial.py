"""Helpers of the adversarial tests: inputs are never changed, and a failure is one line."""

from __future__ import annotations

import hashlib
from pathlib import Path


def snapshot_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, by path relative to it (take one before and after a run)."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_one_error_line(output: str, must_contain: str) -> None:
    """`output` (what the user saw on stderr) is exactly one `refocus: error: ...` line holding `must_contain`,
    with no traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{output}"
    assert lines[0].startswith("refocus: error: "), output
    assert must_contain in lines[0], f"{must_contain!r} not in {lines[0]!r}"
