"""`refocus completions install SHELL`: the shipped static completion script, put where bash, zsh or fish loads
completions from (pressing TAB never starts Python); `refocus completions show SHELL` prints it. A thin shell
over `refocus_cli.completions`."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer


class Shell(str, enum.Enum):
    """A shell refocus ships a completion script for."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"


LOADED_BY = {
    Shell.bash: "bash-completion loads it in new shells (without bash-completion: `source` it from ~/.bashrc)",
    Shell.zsh: "zsh loads it once ~/.zshrc has this line, before compinit:",
    Shell.fish: "fish loads it in new shells",
}
"""What makes each shell use the installed script (zsh: the line printed after it)."""

completions_app = typer.Typer(
    name="completions",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)

ShellArgument = Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.", show_default=False)]


@completions_app.callback()
def completions_command() -> None:
    """Install or print the shell completion scripts (bash, zsh, fish).

    The scripts are static: they list every subcommand, option and choice, so pressing TAB never starts Python.
    `refocus completions install SHELL` puts one where the shell looks."""


@completions_app.command("install", no_args_is_help=True)
def install_command(
    shell: ShellArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Install the script here instead of where the shell looks by default.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a different file already there.")] = False,
) -> None:
    """Install the completion script for SHELL where that shell loads completions from.

    bash: ~/.local/share/bash-completion/completions/refocus; zsh: ~/.zfunc/_refocus (and prints the line
    ~/.zshrc needs); fish: ~/.config/fish/completions/refocus.fish. Written atomically; a different file
    already there is kept unless --overwrite."""
    from refocus_cli.completions import install_script, install_target, zsh_fpath_line

    target = output if output is not None else install_target(shell.value)
    done = install_script(shell.value, target, overwrite=overwrite)
    verb = "installed" if done.changed else "already installed"
    typer.echo(f"{verb} the {shell.value} completion script: {done.path}; {LOADED_BY[shell]}")
    if shell is Shell.zsh:
        typer.echo(zsh_fpath_line(done.path))


@completions_app.command("show", no_args_is_help=True)
def show_command(shell: ShellArgument) -> None:
    """Print the completion script for SHELL.

    To install it by hand, or to try it in this shell: `source <(refocus completions show bash)`."""
    from refocus_cli.completions import shipped_script

    typer.echo(shipped_script(shell.value).read_text(encoding="utf-8"), nl=False)
