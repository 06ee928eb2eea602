"""The options every batch command takes (`refocus image`, `video`, `bokeh-video`, `stack`): where the tasks
run, what is skipped, and the contact sheet, declared once. No heavy imports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from refocus_cli.commands.limits import WORKERS, check_ranges, in_help

if TYPE_CHECKING:
    from refocus_cli.commands.batch import BatchOptions

BATCH = "Batch"

WorkersOption = Annotated[
    int,
    typer.Option(
        help=f"Local worker processes, a file each at a time{in_help(WORKERS)}; 1 = this process, all cores.",
        rich_help_panel=BATCH,
    ),
]
RayOption = Annotated[
    str | None,
    typer.Option(
        help="Run the files on a Ray cluster: its address, auto (a running one) or local (start one here). "
        "Inputs are sent to the workers and outputs written here, unless --shared-folders. Needs refocus-cli\\[ray].",
        rich_help_panel=BATCH,
        show_default=False,
    ),
]
SharedFoldersOption = Annotated[
    bool,
    typer.Option(
        "--shared-folders",
        help="With --ray: every machine sees the inputs and outputs at the same paths (a shared file system), so "
        "workers read and write them themselves.",
        rich_help_panel=BATCH,
    ),
]
SkipExistingOption = Annotated[
    bool,
    typer.Option(
        "--skip-existing",
        help="Skip inputs whose outputs are all there (outputs are written whole, so a present one is complete): "
        "re-run a stopped batch to finish it.",
        rich_help_panel=BATCH,
    ),
]
ContactSheetOption = Annotated[
    Path | None,
    typer.Option(
        help="Write FILE.html (or .jpg): each input beside its outputs, the settings and the failures; the page "
        "works offline from file://.",
        rich_help_panel=BATCH,
        show_default=False,
    ),
]


def batch_options(
    workers: int,
    ray: str | None,
    shared_folders: bool,
    skip_existing: bool,
    contact_sheet: Path | None,
    *,
    json_lines: bool,
    quiet: bool,
) -> BatchOptions:
    """The options as one value, checked (ranges, combinations, the sheet's kind) before any file is read.

    Raises:
        SettingsError: --workers out of range, --workers with --ray, --shared-folders without --ray.
        OutputError: a contact sheet that is not .html, .htm, .jpg or .jpeg.
    """
    from refocus_cli.batch.runner import BatchPlacement
    from refocus_cli.commands.batch import BatchOptions

    check_ranges({"--workers": (workers, WORKERS)})
    placement = BatchPlacement(workers=workers, ray_address=ray, shared_folders=shared_folders)
    if contact_sheet is not None:
        from refocus_cli.io.contact_sheet import check_sheet_path

        check_sheet_path(contact_sheet)
    return BatchOptions(placement, skip_existing, contact_sheet, json_lines, quiet)
