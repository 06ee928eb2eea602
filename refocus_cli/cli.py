"""The `refocus` command: registers the subcommands and turns a RefocusError into one line and an exit code.

Heavy libraries (torch, av, diffusers) are imported inside the commands, never here: `refocus --help` and
shell completion (which runs the program on every TAB) stay fast.

A new subcommand is a module in `refocus_cli/commands/` and two lines here: its import and its registration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from refocus_cli import __version__
from refocus_cli.commands import debug_enabled, echo_error, item_error, light_rich
from refocus_cli.commands.bench import bench_command
from refocus_cli.commands.generate import generate_command
from refocus_cli.commands.image import image_command
from refocus_cli.commands.models import models_app
from refocus_cli.commands.simulate import simulate_command
from refocus_cli.commands.stack import stack_command
from refocus_cli.commands.train import train_command
from refocus_cli.commands.video import video_command
from refocus_cli.errors import RefocusError

light_rich.install()  # help pages and usage errors without rich.markdown and pygments


class RefocusGroup(TyperGroup):
    """The one place a RefocusError becomes `refocus: error: <message>` on stderr and its exit code; any other
    exception (a bug, an OS failure no check foresaw) becomes one line too, with exit code 1.

    With `REFOCUS_DEBUG=1` the error goes on, with its traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RefocusError as error:
            if debug_enabled():
                raise
            echo_error(str(error))
            raise typer.Exit(error.exit_code) from None
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
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("image", no_args_is_help=True)(image_command)
app.command("stack", no_args_is_help=True)(stack_command)
app.command("video", no_args_is_help=True)(video_command)
app.command("bokeh-video", no_args_is_help=True)(video_command)
app.command("simulate", no_args_is_help=True)(simulate_command)
app.command("train", no_args_is_help=True)(train_command)
app.command("bench")(bench_command)
app.add_typer(models_app, name="models")
app.command("generate", no_args_is_help=True)(generate_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"refocus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Refocus photos after capture: any focus point, any amount of lens blur, real optics."""


def main() -> None:
    """Console entry point: user errors become `refocus: error: <message>` and exit code 1 (see RefocusGroup)."""
    try:
        app(prog_name="refocus")
    except KeyboardInterrupt:  # outputs are written atomically: nothing half-written is left behind
        if debug_enabled():
            raise
        print("refocus: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
