"""Subcommands built on first use: a group's `commands` mapping that imports a command's module only when that
command is looked up (to run it, complete it or show its help), so that `refocus image ...` never imports the
modules (and their imports) of `stack`, `video` or `generate`, and `refocus image --help` neither.

The command comes out as Typer builds it for `app.command(name)(function)` or `app.add_typer(app, name=name)`:
help pages, completion and option parsing are the same as with eager registration (but for plain option
values converted without pydantic: `light_params`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

import typer

from refocus_cli.commands.light_params import LightCommand, LightGroup


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand is: `module` (under refocus_cli.commands) holds `attribute`, the command's function
    or a Typer app of its own; `no_args_is_help` as `app.command` takes it; `help`, when given, replaces the
    function's docstring (one function serving two commands, each described as itself)."""

    module: str
    attribute: str
    no_args_is_help: bool = True
    help: str | None = None


class LazyCommands(MutableMapping[str, Any]):
    """Name -> click command, in the order of `table` then any added; a name of `table` is built when first
    looked up. Iterating gives the names without building anything."""

    def __init__(
        self, table: Mapping[str, Subcommand], built: Mapping[str, Any], markup: Literal["rich", "markdown"]
    ) -> None:
        self.table = dict(table)
        self.built = dict(built)
        self.markup = markup

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            if name not in self.table:
                raise KeyError(name)
            self.built[name] = build(name, self.table[name], self.markup)
        return self.built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        self.table.pop(name, None)
        del self.built[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.table), **self.built})

    def __len__(self) -> int:
        return len(self.table.keys() | self.built.keys())

    def __contains__(self, name: object) -> bool:
        return name in self.table or name in self.built


def build(name: str, where: Subcommand, markup: Literal["rich", "markdown"]) -> Any:
    """The click command `name`, from its module imported now, as a Typer group's subcommand."""
    target = getattr(importlib.import_module(f"refocus_cli.commands.{where.module}"), where.attribute)
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=markup)
    holder.callback()(_holder)  # a group even for one command, so that the command is built as a subcommand
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, cls=LightGroup)
    else:
        holder.command(name, cls=LightCommand, no_args_is_help=where.no_args_is_help, help=where.help)(target)
    command = getattr(typer.main.get_command(holder), "commands", {})[name]
    if command.help and not command.short_help:  # `refocus --help` would keep the docstring's line breaks
        command.short_help = " ".join(inspect.cleandoc(command.help).split("\n\n")[0].split())
    return command


def _holder() -> None:
    """Never runs: the group that `build` makes a subcommand in."""
