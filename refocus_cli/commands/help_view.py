"""What a parameter shows in the type column of a help page.

Typer's rich help gives every parameter a type tag taken from its annotation: `<bool>` on a switch (which takes
no value) and `<list[str]>` on a repeatable option or a variadic argument (which says nothing about what to
type). `dressed` makes each parameter of a `LightCommand` or `LightGroup` show instead:

- a switch (`--overwrite`, `--help`): nothing;
- an option with a metavar (`typer.Option(metavar="TIME:X,Y")`): the metavar, as Typer does;
- an argument: nothing when it holds a list (its name, `inputs...`, already says it takes several), else the
  metavar or Typer's tag;
- anything else: Typer's own tag (`<float>`, `<path>`, `<fast|fine>`).

Parsing, completion and error messages are untouched: only `display_type_rich`, which the help alone calls, is
replaced on each parameter. Typer versions without it draw help without tags and are left as they are.
"""

from __future__ import annotations

from functools import partial
from typing import Any, get_origin


def type_label(param: Any, ctx: Any) -> str | None:
    """The type column's text for `param` in `ctx`'s help page, or None for nothing."""
    if getattr(param, "is_flag", False) and not getattr(param, "count", False):
        return None
    descriptor = getattr(param, "type_descriptor", None)
    holds_list = descriptor is not None and get_origin(descriptor.annotation) is list
    if getattr(param, "param_type_name", "") == "argument":
        if holds_list:
            return None
        return str(param.metavar) if param.metavar else type(param).display_type_rich(param, ctx)
    return type(param).display_type_rich(param, ctx)


def dressed(params: list[Any]) -> list[Any]:
    """`params` (a command's, its help option included), each showing `type_label` in help."""
    for param in params:
        if hasattr(type(param), "display_type_rich"):
            param.display_type_rich = partial(type_label, param)
    return params
