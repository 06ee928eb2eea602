"""The `refocus` command: registers the subcommands and turns a RefocusError into one line and an exit code.

Heavy libraries (torch, av, diffusers) are imported inside the commands, never here: `refocus --help` and
shell completion (which runs the program on every TAB) stay fast. Each command's own module is imported only when
that command is asked for (to run, complete or show its help; `refocus --help` lists them all).

A new subcommand is a module in `refocus_cli/commands/` and its line in COMMANDS here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from typer.exceptions import TyperException

from refocus_cli import __version__
from refocus_cli.commands import debug_enabled, echo_error, item_error, light_rich
from refocus_cli.commands.lazy import LazyCommands, Subcommand
from refocus_cli.commands.light_params import LightGroup
from refocus_cli.errors import RefocusError

light_rich.install()  # help pages and usage errors without rich.markdown and pygments

BOKEH_VIDEO_HELP: Final = (
    "Add lens blur to sharp clips: a subject followed through each (or focus keyframes), a blur strength, depth "
    "steady in time; frame count, timestamps, audio and subtitles kept. Never undoes the clip's own defocus "
    "(--restore is always off): for clips whose focus is wrong, use `refocus video`."
)
COMMANDS = {  # in the order `refocus --help` lists them
    "image": Subcommand("image", "image_command"),
    "stack": Subcommand("stack", "stack_command"),
    "video": Subcommand("video", "video_command"),
    "bokeh-video": Subcommand("video", "video_command", help=BOKEH_VIDEO_HELP),
    "simulate": Subcommand("simulate", "simulate_command"),
    "train": Subcommand("train", "train_command"),
    "bench": Subcommand("bench", "bench_command", no_args_is_help=False),
    "generate": Subcommand("generate", "generate_command"),
    "models": Subcommand("models", "models_app", no_args_is_help=False),
    "completions": Subcommand("completions", "completions_app"),
}
RICH_MARKUP: Final = "rich"


class RefocusGroup(LightGroup):
    """The one place a RefocusError becomes `refocus: error: <message>` on stderr and its exit code; any other
    exception (a bug, an OS failure no check foresaw) becomes one line too, with exit code 1.

    With `REFOCUS_DEBUG=1` the error goes on, with its traceback. Subcommands are built from COMMANDS on first
    use, so that running one imports only its own module.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(COMMANDS, self.commands, RICH_MARKUP)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only (TyperGroup's own would build every command)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RefocusError as error:
            if debug_enabled():
                raise
            echo_error(str(error))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:  # Typer would exit 130 without a word
            if debug_enabled():
                raise
            typer.echo("refocus: interrupted; outputs are written whole, so nothing half-written was left", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, TyperException):
            raise  # Typer's own exits and usage errors keep their codes and boxes
        except Exception as error:  # a bug or an OS failure no check foresaw: still one line, never a traceback
            if debug_enabled():
                raise
            echo_error(item_error(Path(f"refocus {ctx.invoked_subcommand or ''}".strip()), error))
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=RefocusGroup,
    name="refocus",
    help="Refocus photos after capture: any focus point, any amount of lens blur, real optics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=RICH_MARKUP,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,  # Typer's completion runs the program on every TAB: `refocus completions` instead
)
TYPER_COMPLETE_VAR = "_REFOCUS_COMPLETE"
"""Set by a completion script that Typer's --install-completion installed before it was replaced."""
TYPER_COMPLETION_MOVED = (
    "{option} is replaced by `refocus completions install bash|zsh|fish` (or `refocus completions show SHELL`): "
    "a static script, so TAB never starts Python"
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"refocus {__version__}")
        raise typer.Exit()


def _typer_completion(ctx: typer.Context, param: Any, value: bool) -> None:
    """Typer's --install-completion / --show-completion, asked for by habit: point to `refocus completions`."""
    if value:
        echo_error(TYPER_COMPLETION_MOVED.format(option=param.opts[0]))
        raise typer.Exit(2)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    _install_completion: Annotated[
        bool, typer.Option("--install-completion", callback=_typer_completion, is_eager=True, hidden=True)
    ] = False,
    _show_completion: Annotated[
        bool, typer.Option("--show-completion", callback=_typer_completion, is_eager=True, hidden=True)
    ] = False,
) -> None:
    """Refocus photos after capture: any focus point, any amount of lens blur, real optics."""


def main() -> None:
    """Console entry point: user errors become `refocus: error: <message>` and exit code 1 (see RefocusGroup)."""
    if os.environ.get(TYPER_COMPLETE_VAR):  # a script Typer installed earlier still completes (add_completion off)
        from typer.completion import completion_init

        completion_init()
    try:
        app(prog_name="refocus")
    except KeyboardInterrupt:  # outputs are written atomically: nothing half-written is left behind
        if debug_enabled():
            raise
        print("refocus: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
