"""Completion scripts are generated from the CLI and the committed ones match it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from refocus_cli.completions import DEFAULT_FOLDER, SCRIPTS, write_completions


def test_committed_completions_match_the_cli(tmp_path: Path) -> None:
    for path in write_completions(tmp_path):
        committed = DEFAULT_FOLDER / path.name
        assert committed.read_text() == path.read_text(), f"run `python -m refocus_cli.completions`: {path.name}"


def test_scripts_name_every_image_option(tmp_path: Path) -> None:
    write_completions(tmp_path)
    for name in SCRIPTS.values():
        text = (tmp_path / name).read_text()
        for option in ("--depth", "--focus", "--blur", "--fnumber", "--aperture", "--out-dir", "--json"):
            assert option.lstrip("-") in text
        assert "auto" in text and "disparity" in text  # choices of --device and --depth-kind


def test_bash_completes_options_and_choices(tmp_path: Path) -> None:
    write_completions(tmp_path)
    script = tmp_path / SCRIPTS["bash"]
    probe = (
        f"source {script}; COMP_WORDS=(refocus image --devi); COMP_CWORD=2; _refocus; echo ${{COMPREPLY[@]}};"
        " COMP_WORDS=(refocus image --device ''); COMP_CWORD=3; _refocus; echo ${COMPREPLY[@]}"
    )
    lines = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines == ["--device", "auto cpu cuda"]


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_other_shells_parse_their_scripts(tmp_path: Path, shell: str, check: list[str]) -> None:
    if shutil.which(check[0]) is None:
        pytest.skip(f"{shell} is not installed")
    write_completions(tmp_path)
    subprocess.run([*check, str(tmp_path / SCRIPTS[shell])], check=True, capture_output=True)
