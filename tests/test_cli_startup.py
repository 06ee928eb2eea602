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
    """Typer's own completion (what `refocus --install-completion` installed before `refocus completions`) runs the
    program on every TAB: no torch."""
    env = {**os.environ, "_REFOCUS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = subprocess.run(
        [sys.executable, "-c", COMPLETION_PROBE], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    *completions, heavy = result.stdout.split()
    assert completions == expected and heavy == "heavy:"


# --- values converted without pydantic (refocus_cli.commands.light_params) -------------------------------------

VALUES = [
    ("blur", ["12", "0", "-3", "1e3", "2.5E-1", "8", 8, 8.5, "1_0", " 3", ".5", "5.", "abc", "nan", "inf", "", "0x10"]),
    ("blades", ["7", "-2", "007", "2.0", "x", 6, 7.0, True]),
    ("device", ["cpu", "CPU", "gpu", "cuda", "auto"]),
    ("engine", ["physics", "learned", "none"]),
    ("depth", ["a.png", "", ".", "dir/../b.png"]),
    ("focus", ["60,130", "", "é"]),
    ("inputs", [["a.jpg", "b.jpg"], ("c.png",), "a.jpg"]),
]


@pytest.mark.parametrize(("name", "values"), VALUES, ids=[name for name, _ in VALUES])
def test_light_conversion_gives_what_typer_gives(name: str, values: list[object]) -> None:
    """Each value comes out as Typer's own (pydantic) converter makes it, or fails with its message."""
    import typer
    from typer._coercion import build_runtime_param

    from refocus_cli.cli import app
    from refocus_cli.commands.light_params import LightRuntimeParam

    command = typer.main.get_command(app).commands["image"]  # type: ignore[attr-defined]
    param = next(p for p in command.params if p.name == name)
    context = typer.Context(command)
    for value in values:
        outcomes = []
        for converter in (LightRuntimeParam(param.type_descriptor), build_runtime_param(param.type_descriptor)):
            try:
                result = converter.coerce(value, param=param, ctx=context)
                outcomes.append((type(result), repr(result)))  # repr: nan == nan
            except typer.BadParameter as error:
                outcomes.append((type(error), error.format_message()))
        assert outcomes[0] == outcomes[1], (value, outcomes)
