"""One module per subcommand: options -> request objects -> library calls, and progress. No heavy imports at
module level: `refocus --help` and shell completion must stay fast."""

from __future__ import annotations

import os
from pathlib import Path

import typer

DEBUG_ENV = "REFOCUS_DEBUG"


def debug_enabled() -> bool:
    """`REFOCUS_DEBUG=1` (any value but empty or 0): let a RefocusError through, with its traceback."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def echo_error(message: str) -> None:
    """`refocus: error: <line>` on stderr for each line of `message` (an error about several files has one line
    per file)."""
    for line in message.splitlines() or [""]:
        typer.echo(f"refocus: error: {line}", err=True)


def item_error(source: Path, error: Exception) -> str:
    """The one line for an item of a batch (or a whole run) that failed: a RefocusError's own message; anything
    else named by the file it was working on, with how to see its traceback."""
    from refocus_cli.errors import RefocusError, one_line

    if isinstance(error, RefocusError):
        return str(error)
    if isinstance(error, MemoryError):
        return f"{source}: out of memory (try a smaller image, --device cpu, or close other programs)"
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or one_line(error)} (while working on {source})"
    return f"{source}: unexpected {type(error).__name__}: {one_line(error)} (a bug; {DEBUG_ENV}=1 shows the traceback)"
