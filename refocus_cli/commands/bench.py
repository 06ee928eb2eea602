"""`refocus bench`: speed, fidelity and real-photo refocusing of the engines beside their baselines, as tables or
as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from refocus_cli.io.run_paths import RunPaths, check_run_paths, model_reads

RUN, OUTPUT = "What to run", "Output"
TABLE_WIDTH = 140
"""Width of the tables when stdout is not a terminal (a file, a pipe, a README)."""


def bench_command(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="A CI-sized run (small inputs, few runs): under a minute on 2 cores.", rich_help_panel=RUN
        ),
    ] = False,
    sections: Annotated[
        str, typer.Option(help="Comma-separated sections to run: speed, fidelity, real, peers.", rich_help_panel=RUN)
    ] = "speed,fidelity,real,peers",
    device: Annotated[
        str, typer.Option(help="auto, cpu or cuda (auto = CUDA when present).", rich_help_panel=RUN)
    ] = "auto",
    seed: Annotated[int, typer.Option(help="Seeds the procedural scenes and clips.", rich_help_panel=RUN)] = 0,
    model: Annotated[
        Path | None,
        typer.Option(
            help="A learned engine's checkpoint to compare: a folder or a registered name (default: the first one "
            "under models/).",
            rich_help_panel=RUN,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Real focal stacks for the real section: a folder of stack folders, or one stack folder "
            "(default: ../shared/data beside the repository; the section is skipped without it).",
            exists=True,
            file_okay=False,
            rich_help_panel=RUN,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout instead of tables.", rich_help_panel=OUTPUT)
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON document to this file.", rich_help_panel=OUTPUT)
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.", rich_help_panel=OUTPUT)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress on stderr.", rich_help_panel=OUTPUT)
    ] = False,
) -> None:
    """Measure speed (median time, megapixels per second, peak memory; video fps), fidelity (PSNR/SSIM against
    the exact reference, restore gain, fused-stack PSNR, video flicker) and refocusing on real focal stacks (PSNR/SSIM
    against the real frame), each beside its baseline."""
    if out is not None:  # before the run, not after it; never onto the checkpoint it reads
        check_run_paths(model_reads(model) + RunPaths(writes=(out,)), overwrite=overwrite)
    from refocus_cli.bench.report import BenchRequest, parse_sections
    from refocus_cli.bench.run import run_bench
    from refocus_cli.io.atomic import atomic_output

    request = BenchRequest(
        quick=quick,
        device=device,
        sections=parse_sections(sections),
        seed=seed,
        model=str(model) if model else None,
        data=str(data) if data else None,
    )
    with _step_progress(not (json_output or quiet)) as progress:
        report = run_bench(request, progress)
    document = json.dumps(report.to_record(), indent=2)
    if out is not None:
        with atomic_output(out, overwrite=overwrite) as tmp:
            tmp.write_text(document + "\n", encoding="utf-8")
    if json_output:
        typer.echo(document)
        return
    from rich.console import Console

    from refocus_cli.bench.table import print_report

    console = Console()
    print_report(report, console if console.is_terminal else Console(width=TABLE_WIDTH))


class _step_progress:
    """A rich progress bar of the bench's steps on stderr (when it is a terminal and wanted), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("bench"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("", total=None)

        def advance(done: int, total: int, label: str) -> None:
            self._bar.update(task, completed=done, total=total, description=label)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
