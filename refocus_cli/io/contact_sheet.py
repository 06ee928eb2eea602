"""Contact sheets of a batch: each input beside its outputs, the settings, and the failures, on one HTML page
(self-contained, works from file:// with no network) or in one JPEG image.

    sheet = ContactSheet("refocus image", (("--blur", "8"),), (SheetEntry(photo, (out, depth), "done", "..."),))
    check_sheet_path(path)          # up front, before the batch runs
    write_contact_sheet(sheet, path, overwrite=False)

The kind follows the suffix: .html/.htm (`io.contact_sheet_html`) or .jpg/.jpeg (`io.contact_sheet_image`).
The sheet appears atomically; links in the page are relative to its folder.
"""

from __future__ import annotations

from pathlib import Path

from refocus_cli.errors import OutputError
from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.contact_sheet_model import ContactSheet as ContactSheet
from refocus_cli.io.contact_sheet_model import SheetEntry as SheetEntry

HTML_SUFFIXES = (".html", ".htm")
JPEG_SUFFIXES = (".jpg", ".jpeg")
SHEET_SUFFIXES = HTML_SUFFIXES + JPEG_SUFFIXES
"""Suffixes (any case) a contact sheet may have."""


def check_sheet_path(path: Path) -> None:
    """Raise `OutputError` unless `path` names a kind of sheet we write (by its suffix alone; no file access).

    >>> check_sheet_path(Path("batch.HTML"))
    >>> check_sheet_path(Path("batch.png"))
    Traceback (most recent call last):
    ...
    refocus_cli.errors.OutputError: batch.png: a contact sheet is .html, .htm, .jpg or .jpeg, not '.png'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SHEET_SUFFIXES:
        kinds = ", ".join(SHEET_SUFFIXES[:-1]) + f" or {SHEET_SUFFIXES[-1]}"
        found = f"'{Path(path).suffix}'" if suffix else "no suffix"
        raise OutputError(path, f"a contact sheet is {kinds}, not {found}")


def write_contact_sheet(sheet: ContactSheet, path: Path, *, overwrite: bool) -> None:
    """Write `sheet` to `path` as an HTML page or a JPEG by its suffix, atomically.

    Thumbnails are made one at a time, once per file; a file that cannot be previewed (missing, corrupt, an
    array) is shown as a box or a link, never an error.

    Raises:
        OutputError: the suffix is not a sheet's; `path` exists and `overwrite` is false; its folder is missing;
            it cannot be written.
    """
    path = Path(path)
    check_sheet_path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        if path.suffix.lower() in HTML_SUFFIXES:
            from refocus_cli.io.contact_sheet_html import write_html_sheet

            write_html_sheet(sheet, tmp)
        else:
            from refocus_cli.io.contact_sheet_image import write_jpeg_sheet

            write_jpeg_sheet(sheet, tmp)
