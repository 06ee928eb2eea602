"""Completion scripts are generated from the CLI, the committed ones match it, and `refocus completions install`
puts them where each shell looks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refocus_cli.cli import app
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


# --- refocus completions install / show ------------------------------------------------------------------------


@pytest.fixture
def home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary HOME, with XDG_DATA_HOME unset (bash's default folder) and XDG_CONFIG_HOME inside it."""
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return isolated_home


TARGETS = {
    "bash": ".local/share/bash-completion/completions/refocus",
    "zsh": ".zfunc/_refocus",
    "fish": ".config/fish/completions/refocus.fish",
}


@pytest.mark.parametrize("shell", list(SCRIPTS))
def test_install_puts_the_shipped_script_where_the_shell_looks(home: Path, shell: str) -> None:
    result = CliRunner().invoke(app, ["completions", "install", shell])
    assert result.exit_code == 0, result.output
    target = home / TARGETS[shell]
    assert target.read_text() == (DEFAULT_FOLDER / SCRIPTS[shell]).read_text()
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"installed the {shell} completion script: {target};")
    assert lines[1:] == (["fpath=(~/.zfunc $fpath)"] if shell == "zsh" else [])
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file left
    again = CliRunner().invoke(app, ["completions", "install", shell])
    assert again.exit_code == 0 and again.stdout.startswith(f"already installed the {shell} completion script")


def test_installed_bash_script_completes(home: Path) -> None:
    assert CliRunner().invoke(app, ["completions", "install", "bash"]).exit_code == 0
    probe = (
        f"source {home / TARGETS['bash']}; COMP_WORDS=(refocus image --devi); COMP_CWORD=2; _refocus;"
        " echo ${COMPREPLY[@]}; COMP_WORDS=(refocus completions install ''); COMP_CWORD=3; _refocus;"
        " echo ${COMPREPLY[@]}"
    )
    lines = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "--device" and {"bash", "zsh", "fish"} <= set(lines[1].split())


def test_install_keeps_a_different_file_unless_overwrite(home: Path) -> None:
    target = home / TARGETS["bash"]
    target.parent.mkdir(parents=True)
    target.write_text("# someone else's\n")
    refused = CliRunner().invoke(app, ["completions", "install", "bash"])
    assert refused.exit_code == 1 and "--overwrite" in refused.stderr and str(target) in refused.stderr
    assert target.read_text() == "# someone else's\n"
    replaced = CliRunner().invoke(app, ["completions", "install", "bash", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert target.read_text() == (DEFAULT_FOLDER / SCRIPTS["bash"]).read_text()


def test_install_to_a_chosen_file_and_zsh_line_names_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "fns" / "_refocus"
    result = CliRunner().invoke(app, ["completions", "install", "zsh", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == (DEFAULT_FOLDER / SCRIPTS["zsh"]).read_text()
    assert result.stdout.splitlines()[1] == f"fpath=({target.parent} $fpath)"


@pytest.mark.parametrize(("args", "code"), [(["install", "tcsh"], 2), (["show", "tcsh"], 2), (["install"], 2)])
def test_install_and_show_refuse_an_unknown_shell(args: list[str], code: int) -> None:
    assert CliRunner().invoke(app, ["completions", *args]).exit_code == code


def test_show_prints_the_shipped_script() -> None:
    result = CliRunner().invoke(app, ["completions", "show", "fish"])
    assert result.exit_code == 0 and result.stdout == (DEFAULT_FOLDER / SCRIPTS["fish"]).read_text()


@pytest.mark.parametrize("option", ["--install-completion", "--show-completion"])
def test_typer_completion_options_point_to_the_static_scripts(option: str) -> None:
    result = CliRunner().invoke(app, [option])
    assert result.exit_code == 2 and "refocus completions install" in result.stderr
    assert option not in CliRunner().invoke(app, ["--help"]).stdout
