"""`refocus models`: the registered learned models and what of them is on this machine; `refocus models fetch
NAME` downloads one. A thin shell over `refocus_cli.registry`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from refocus_cli.commands.light_params import LightCommand
from refocus_cli.registry.registry import ModelEntry
from refocus_cli.registry.resolve import Presence

TABLE_WIDTH = 170
"""Width of the table when stdout is not a terminal (a file, a pipe, a README)."""
TABLE_NOTE = (
    "* the default of its kind; cache = the Hugging Face cache at the pinned revision; sizes are approximate "
    "downloads; `refocus models fetch NAME` downloads one"
)

models_app = typer.Typer(
    name="models",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@models_app.callback(invoke_without_command=True)
def models_command(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per model per line instead of a table.")
    ] = False,
) -> None:
    """List the learned models refocus knows by name: kind, use, size, licence, pinned revision, and whether each
    is here (bundled with the project, in the Hugging Face cache) or missing. `refocus models fetch NAME`
    downloads one; any command that takes --model or --depth-model also takes these names."""
    if ctx.invoked_subcommand is not None:
        return
    from refocus_cli.registry import load_registry, presence

    listing = [(entry, presence(entry)) for entry in load_registry().values()]
    if json_output:
        for entry, found in listing:
            typer.echo(json.dumps(model_record(entry, found)))
        return
    from rich.console import Console

    console = Console()
    console = console if console.is_terminal else Console(width=TABLE_WIDTH)
    console.print(models_table(listing))


@models_app.command("fetch", cls=LightCommand, no_args_is_help=True)
def fetch_command(
    name: Annotated[str, typer.Argument(help="A registered model's name (see `refocus models`).", show_default=False)],
) -> None:
    """Download a registered model into the Hugging Face cache at its pinned revision (needs the network).

    Prints the folder it is in. A model that ships with the project is only looked for."""
    from refocus_cli.registry import fetch_model

    typer.echo(f"{name}: {fetch_model(name)}")


def model_record(entry: ModelEntry, found: Presence) -> dict[str, Any]:
    """One model as `--json` prints it."""
    return {
        "name": entry.name,
        "kind": entry.kind,
        "default": entry.default,
        "used_for": entry.used_for,
        "repo": entry.repo,
        "revision": entry.revision,
        "pinned": entry.pinned,
        "class": entry.model_class,
        "resolution_px": entry.resolution_px,
        "dtype": entry.dtype,
        "steps": entry.steps,
        "guidance": entry.guidance,
        "licence": entry.licence,
        "size_mb": entry.size_mb,
        "present": found.where,
        "path": None if found.path is None else str(found.path),
    }


def present_label(found: Presence) -> str:
    """Where a model is, as listed: `bundled: FOLDER` (relative to the installed package's data or the checkout
    when inside either), `cache` or `missing`."""
    if found.where != "bundled" or found.path is None:
        return found.where
    from refocus_cli.shipped import shown_path

    return f"bundled: {shown_path(found.path)}"


def size_label(size_mb: float) -> str:
    """ "16 MB", "5.2 GB".

    >>> size_label(16), size_label(5200), size_label(33700)
    ('16 MB', '5.2 GB', '34 GB')
    """
    if size_mb < 1000:
        return f"{size_mb:.0f} MB"
    size_gb = size_mb / 1000
    return f"{size_gb:.1f} GB" if size_gb < 10 else f"{size_gb:.0f} GB"


def models_table(listing: list[tuple[ModelEntry, Presence]]) -> Any:
    """The rich table of the registry's entries and where each is."""
    from rich.table import Table

    table = Table(caption=TABLE_NOTE, caption_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("used for")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("licence")
    table.add_column("revision", no_wrap=True)
    table.add_column("present", no_wrap=True)
    for entry, found in listing:
        table.add_row(
            f"{entry.name} *" if entry.default else entry.name,
            entry.kind,
            entry.used_for,
            size_label(entry.size_mb),
            entry.licence,
            entry.short_revision,
            present_label(found),
        )
    return table
