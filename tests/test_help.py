"""Every help page reads in full in an 80-column terminal: nothing cut, no `<bool>`/`<list[str]>` tags."""

from __future__ import annotations

import re

import click
import pytest
import typer
from typer.testing import CliRunner

from refocus_cli.cli import COMMANDS, app

PAGES = [[], *([name] for name in COMMANDS), ["models", "fetch"]]


def _help(args: list[str]) -> tuple[str, click.Command]:
    """The help page of `refocus ARGS` at 80 columns, and the command it describes."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    command = typer.main.get_command(app)
    for name in args:
        command = command.commands[name]  # type: ignore[attr-defined]
    return result.output, command


@pytest.mark.parametrize("args", PAGES, ids=lambda args: " ".join(args) or "refocus")
def test_help_reads_in_full_at_80_columns(args: list[str]) -> None:
    page, command = _help(args)
    assert max(len(line) for line in page.splitlines()) <= 80
    assert "…" not in page, "a name or a help text is cut"
    assert "<bool>" not in page and "<list" not in page, "a Typer type tag where a user needs a word"
    with click.Context(command, info_name="refocus") as ctx:
        params = command.get_params(ctx)
    for param in params:
        if getattr(param, "hidden", False):  # e.g. Typer's --install-completion, kept only to point elsewhere
            continue
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", page), f"{name} is not shown in full"
        for word in (getattr(param, "help", None) or "").replace("\\", "").split():
            assert word in page, f"{param.name}: {word!r} is folded or cut"


def test_video_and_bokeh_video_describe_themselves() -> None:
    video, _ = _help(["video"])
    bokeh, _ = _help(["bokeh-video"])
    first = [page.split("╭", 1)[0].split("\n\n", 2)[-1] for page in (video, bokeh)]
    assert first[0] != first[1]
    assert "focus is wrong" in video and "--restore" in video
    assert "sharp clips" in bokeh and "Never undoes" in bokeh


def test_video_takes_encoder_preset_and_refuses_preset() -> None:
    page, _ = _help(["video"])
    assert "--encoder-preset" in page
    assert not re.search(r"(?<![\w-])--preset(?![\w-])", page)
    result = CliRunner().invoke(app, ["video", "clip.mp4", "--preset", "fast"])
    assert result.exit_code == 2 and "--encoder-preset" in result.output


def test_image_focus_help_says_auto_focus() -> None:
    page, _ = _help(["image"])
    assert "auto-focus" in page and "(default: centre)" not in page
