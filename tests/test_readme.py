"""The README stays true to the tool: its set-up commands, CI's command, and the option synopsis."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from refocus_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _image_options() -> set[str]:
    command = typer.main.get_command(app).commands["image"]  # type: ignore[attr-defined]
    return {opt for param in command.params if param.param_type_name == "option" for opt in param.opts}


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    before_first_section = README.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", before_first_section, flags=re.S)
    assert len(blocks) == 2
    assert "refocus image examples/motorcycle.jpg" in blocks[0]
    assert blocks[1].endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command() -> None:
    test_command = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)[1]
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_synopsis_lists_exactly_the_cli_options() -> None:
    synopsis = README.split("## Using it", 1)[1].split("\n- ", 1)[0]
    listed = set(re.findall(r"(--[a-z][a-z-]*|-o\b)", synopsis))
    documented = listed | set(re.findall(r"`(--[a-z][a-z-]*)", README))
    options = _image_options() - {"--help", "-h", "-q", "--output"}
    assert options <= documented, f"undocumented: {sorted(options - documented)}"
    assert listed <= _image_options() | {"-o"}, f"not options: {sorted(listed - _image_options())}"
