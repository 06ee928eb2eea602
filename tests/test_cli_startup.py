"""Start-up stays light: `--help` and completion import no torch, av or diffusers."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from typer.testing import CliRunner
from refocus_cli.cli import app
for args in (["--help"], ["image", "--help"], ["--version"]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
heavy = sorted(name for name in ("torch", "av", "diffusers", "numpy", "PIL") if name in sys.modules)
print(",".join(heavy))
"""


def test_help_does_not_import_heavy_libraries() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_version_and_help_exit_zero() -> None:
    result = subprocess.run([sys.executable, "-m", "refocus_cli.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("refocus ")
