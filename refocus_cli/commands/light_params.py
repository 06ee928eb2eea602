"""Option values converted without pydantic where the conversion is plain.

Typer 0.2x converts every option and argument value through a pydantic `TypeAdapter`, built on first use: a
command run imports pydantic (0.1 to 0.2 s, more than the rest of a refused run) even when every value is a plain
number, word, path or choice. `LightCommand` and `LightGroup` give each of their parameters (the help option too)
a converter that handles those plain cases itself, with Typer's own functions for choices and paths, and hands
anything else to the converter Typer would have used (built then, with pydantic): an unusual spelling of a number
("1_000", " 2"), a type it does not know, and every value it cannot convert, so that results and error messages
stay Typer's.

Where Typer does not convert this way (other versions) they are plain Typer commands.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer.core import TyperCommand, TyperGroup

from refocus_cli.commands.help_view import dressed

try:
    from typer._coercion import build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
except ImportError:  # pragma: no cover - a Typer that converts values in another way
    build_runtime_param = None  # type: ignore[assignment]

PLAIN = object()
"""Returned by `plain_value` for a value it leaves to Typer."""
INT = re.compile(r"[+-]?(0|[1-9][0-9]{0,14})")
FLOAT = re.compile(r"[+-]?(0|[1-9][0-9]{0,14})(\.[0-9]{1,17})?([eE][+-]?[0-9]{1,3})?")
"""Spellings whose value Python and pydantic agree on (no whitespace, underscores, leading zeros, inf or nan)."""


def plain_value(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """`value` converted to `annotation` (int, float, str, an Enum or a Path) as Typer would, or PLAIN."""
    if getattr(info, "parser", None) is not None:
        return PLAIN
    if annotation is str and isinstance(value, str):
        return value
    if annotation in (int, float) and (info.min, info.max) == (None, None) and not isinstance(value, bool):
        if isinstance(value, int | float) and (annotation is float or isinstance(value, int)):
            return annotation(value)
        if isinstance(value, str) and (INT if annotation is int else FLOAT).fullmatch(value):
            return annotation(value)
        return PLAIN
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return coerce_cli_choice(value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
    if annotation is Path and getattr(info, "path_type", None) is None and isinstance(value, str | Path) and value:
        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return PLAIN


class LightRuntimeParam:
    """Stands where Typer keeps a parameter's converter (`_runtime_param`), with the same `coerce`."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self.typer_param: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multiple = param.multiple or param.nargs == -1
        if value is None:  # as Typer's: nothing given
            return () if multiple else None
        try:
            if multiple and isinstance(value, list | tuple):
                (item_type,) = get_args(self.descriptor.annotation)
                items = [plain_value(item_type, self.descriptor.parameter_info, v, param, ctx) for v in value]
                if PLAIN not in items:
                    return items
            elif not multiple and get_origin(self.descriptor.annotation) is None:
                result = plain_value(self.descriptor.annotation, self.descriptor.parameter_info, value, param, ctx)
                if result is not PLAIN:
                    return result
        except Exception:  # a choice or path Typer refuses: its own converter says why, in its words
            pass
        if self.typer_param is None:
            self.typer_param = build_runtime_param(self.descriptor)
        return self.typer_param.coerce(value, param=param, ctx=ctx)


def lightened(params: list[Any]) -> list[Any]:
    """`params` (a command's, its help option included) with plain values converted without pydantic."""
    if build_runtime_param is not None:
        for param in params:
            descriptor = getattr(param, "type_descriptor", None)
            unbuilt = param.__dict__.get("_runtime_param", False) is None  # Typer builds its converter on first use
            if descriptor is not None and descriptor.file_annotation is None and unbuilt:
                param._runtime_param = LightRuntimeParam(descriptor)
    return params


class LightCommand(TyperCommand):
    """A Typer command whose plain option values are converted without pydantic (and whose help shows no
    `<bool>` or `<list[str]>` tags: `help_view`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return dressed(lightened(super().get_params(ctx)))


class LightGroup(TyperGroup):
    """A Typer group whose own plain option values are converted without pydantic (help as LightCommand's)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return dressed(lightened(super().get_params(ctx)))
