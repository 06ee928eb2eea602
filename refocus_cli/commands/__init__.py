"""One module per subcommand: options -> request objects -> library calls, and progress. No heavy imports at
module level: `refocus --help` and shell completion must stay fast."""

from __future__ import annotations

import os

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
