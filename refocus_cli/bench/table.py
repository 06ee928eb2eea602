"""The report as rich tables, one per section: each figure beside its baseline's, and the gain."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from refocus_cli.bench.report import BenchReport, BenchRow, BenchSection

if TYPE_CHECKING:
    from rich.console import Console

TITLES = {
    "speed": "Speed",
    "fidelity": "Fidelity",
    "real": "Real photos: frame i refocused to frame j's focus",
    "peers": "Side by side with peers",
}


def figure(value: float | None, unit: str) -> str:
    """A figure with its unit: dB to 0.01, SSIM to 0.0001, MB and anything from 1000 up whole, the rest to 4
    significant digits; "not run" for None.

    >>> figure(41.234, "dB"), figure(0.98765, ""), figure(1234.5, "MB"), figure(0.00312, "s"), figure(None, "s")
    ('41.23 dB', '0.9877', '1234 MB', '0.003120 s', 'not run')
    """
    if value is None:
        return "not run"
    if not math.isfinite(value):
        text = str(value)
    elif unit == "dB":
        text = f"{value:.2f}"
    elif unit == "":
        text = f"{value:.4f}"
    elif unit == "MB" or abs(value) >= 1000:
        text = f"{value:.0f}"
    else:
        text = f"{value:#.4g}"
    return f"{text} {unit}".strip()


def row_cells(row: BenchRow) -> tuple[str, ...]:
    """name, case, metric, ours, baseline, baseline's figure, gain."""
    return (
        row.name,
        row.case,
        row.metric,
        figure(row.value, row.unit),
        row.baseline,
        figure(row.baseline_value, row.unit),
        row.gain_text(),
    )


def section_table(section: BenchSection) -> object:
    """A rich Table of one section."""
    from rich.table import Table

    table = Table(title=TITLES.get(section.name, section.name), title_justify="left")
    for header, justify in (
        ("engine / part", "left"),
        ("case", "left"),
        ("metric", "left"),
        ("ours", "right"),
        ("baseline", "left"),
        ("baseline's", "right"),
        ("gain", "right"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in section.rows:
        table.add_row(*row_cells(row))
    return table


def print_report(report: BenchReport, console: Console) -> None:
    """Every section's table, its notes, the report's notes and the environment line."""
    for section in report.sections:
        console.print(section_table(section))
        for note in section.notes:
            console.print(f"note: {note}")
    for note in report.notes:
        console.print(f"note: {note}")
    env = report.environment
    console.print(
        f"{'quick' if report.request.quick else 'full'} run, {report.seconds:.0f} s; {env.device} ({env.device_name}), "
        f"{env.cpu_count} CPUs, torch {env.torch_version}, {env.date}",
        highlight=False,
    )
