"""Helpers shared by the adversarial tests: inputs come out byte for byte unchanged, a failure is one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

ERROR_PREFIX = "refocus: error: "


def snapshot_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, by path relative to it (compare a snapshot before and after a run).

    >>> snapshot_hashes(Path("/no/such/folder"))
    {}
    """
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(root).rglob("*"))
        if path.is_file()
    }


def assert_one_error_line(output: str, must_contain: str) -> None:
    """`output` (what stderr showed) is exactly one line, `refocus: error: ...`, holding `must_contain`.

    >>> assert_one_error_line("refocus: error: a.png: no such file\\n", "a.png: no such file")
    """
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{output}"
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    assert must_contain in lines[0], f"{must_contain!r} not in {lines[0]!r}"
