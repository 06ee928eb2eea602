"""Start-up stays light: `--help` and completion import no torch, av or diffusers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


COMPLETION_PROBE = """
import sys
from refocus_cli.cli import main
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
heavy = sorted(name for name in ("torch", "av", "diffusers", "numpy", "PIL") if name in sys.modules)
print("heavy:" + ",".join(heavy))
"""


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("refocus image --device ", "3", ["auto", "cpu", "cuda"]), ("refocus image --depth-k", "2", ["--depth-kind"])],
)
def test_dynamic_completion_is_light(words: str, cword: str, expected: list[str]) -> None:
    """Typer's own completion (`refocus --install-completion`) runs the program on every TAB: no torch."""
    env = {**os.environ, "_REFOCUS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = subprocess.run(
        [sys.executable, "-c", COMPLETION_PROBE], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    *completions, heavy = result.stdout.split()
    assert completions == expected and heavy == "heavy:"
