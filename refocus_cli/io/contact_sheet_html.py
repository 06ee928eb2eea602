"""The HTML contact sheet: one self-contained page that works from file:// with no network and no script.

Thumbnails are embedded as `data:image/jpeg;base64,...`; each links to its full file by a path relative to the
page's folder (so the sheet and the batch's folders can move together), or a file:// URI where no relative path
exists (another drive). Every text is escaped. The page is written entry by entry: memory holds one thumbnail
and the cache of those still to be shown again, never the whole page.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from refocus_cli.io.contact_sheet_model import (
    ContactSheet,
    SheetEntry,
    ThumbnailCache,
    counts_line,
    display_name,
    has_picture,
    output_label,
    thumbnail_uses,
)
from refocus_cli.io.sequences import is_pattern
from refocus_cli.io.thumbnails import thumbnail

THUMB_SIDE_PX = 320
"""Longest side of an embedded thumbnail."""
THUMB_QUALITY = 85
"""JPEG quality of an embedded thumbnail."""

Thumb = tuple[str, int, int]
"""An embedded thumbnail: its data URI, width and height in pixels."""

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1c1c1e; background: #fbfbfa;
       margin: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .75rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; }
table.settings { border-collapse: collapse; margin-bottom: .75rem; }
table.settings th, table.settings td { border: 1px solid #d0d0d0; padding: .15rem .6rem; text-align: left; }
table.settings th { font-family: ui-monospace, monospace; font-weight: normal; background: #f0f0ee; }
.counts { font-weight: 600; }
.entry { display: flex; flex-wrap: wrap; gap: .75rem 1.25rem; align-items: flex-start;
         border-top: 1px solid #dddddb; padding: .9rem 0; }
.tiles { display: flex; flex-wrap: wrap; gap: .6rem; }
figure { margin: 0; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; background: #e8e8e6; }
figcaption { font-size: .85rem; color: #444; overflow-wrap: anywhere; max-width: 320px; }
.label { font-weight: 600; text-transform: uppercase; letter-spacing: .04em; font-size: .75rem; color: #555; }
.nopreview { display: flex; align-items: center; justify-content: center; width: 10rem; height: 7.5rem;
             background: #ecece9; color: #555; font-size: .85rem; text-align: center; }
.info { flex: 1 1 18rem; min-width: 12rem; overflow-wrap: anywhere; }
.status { display: inline-block; padding: 0 .45rem; border-radius: .3rem; font-size: .8rem; font-weight: 600; }
.status.done { background: #d9f0dc; color: #1d5a27; }
.status.skipped { background: #e6e6f5; color: #33336b; }
.status.failed { background: #fbdcd9; color: #8a1c12; }
.entry.failed .summary, #failures li { color: #8a1c12; }
.summary { margin: .3rem 0 0; }
ul.files { margin: .3rem 0 0; padding-left: 1.1rem; }
a { color: #0b57a4; }
"""


def write_html_sheet(sheet: ContactSheet, path: Path) -> None:
    """Write the page for `sheet` to `path`, its links relative to `path`'s folder (the caller's temporary file
    lies beside the final page, so the links hold once it is renamed into place)."""
    folder = Path(os.path.abspath(path.parent))
    cache: ThumbnailCache[Thumb] = ThumbnailCache(thumbnail_uses(sheet), embedded_thumbnail)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        _write_head(out, sheet)
        out.write('<main id="entries">\n')
        for number, entry in enumerate(sheet.entries, start=1):
            _write_entry(out, entry, number, folder, cache)
        out.write("</main>\n")
        _write_failures(out, sheet, folder)
        out.write("</body>\n</html>\n")


def _write_head(out: TextIO, sheet: ContactSheet) -> None:
    title = html.escape(sheet.title)
    out.write(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    )
    if sheet.settings:
        out.write('<table class="settings">\n')
        for option, value in sheet.settings:
            out.write(f"<tr><th>{html.escape(option)}</th><td>{html.escape(value)}</td></tr>\n")
        out.write("</table>\n")
    else:
        out.write('<p class="settings">default settings</p>\n')
    out.write(f'<p class="counts">{html.escape(counts_line(sheet))}</p>\n')


def _write_entry(out: TextIO, entry: SheetEntry, number: int, folder: Path, cache: ThumbnailCache[Thumb]) -> None:
    status = html.escape(entry.status)
    out.write(f'<section class="entry {status}" id="entry-{number}">\n<div class="tiles">\n')
    out.write(_tile("input", entry.source, folder, cache.get(entry.source)))
    for index, output in enumerate(entry.outputs):
        if has_picture(output):
            out.write(_tile(output_label(output, index), output, folder, cache.get(output)))
    out.write('</div>\n<div class="info">\n')
    out.write(f'<span class="status {status}">{status}</span> <strong>{_linked_name(entry.source, folder)}</strong>\n')
    if entry.outputs:
        out.write('<ul class="files">\n')
        for index, output in enumerate(entry.outputs):
            label = html.escape(output_label(output, index))
            out.write(f'<li><span class="label">{label}</span> {_linked_name(output, folder)}</li>\n')
        out.write("</ul>\n")
    out.write(f'<p class="summary">{html.escape(entry.summary)}</p>\n</div>\n</section>\n')


def _write_failures(out: TextIO, sheet: ContactSheet, folder: Path) -> None:
    failures = sheet.failures()
    out.write(f'<section id="failures">\n<h2>Failures ({len(failures)})</h2>\n')
    if not failures:
        out.write("<p>none</p>\n")
    else:
        out.write("<ul>\n")
        for entry in failures:
            out.write(f"<li>{_linked_name(entry.source, folder)}: {html.escape(entry.summary)}</li>\n")
        out.write("</ul>\n")
    out.write("</section>\n")


def _tile(label: str, path: Path, folder: Path, thumb: Thumb | None) -> str:
    """A figure: the label, the thumbnail (or a "no preview" box) linked to the file, and the file's name."""
    href = link_target(path, folder)
    name = html.escape(display_name(path))
    if thumb is not None:
        uri, width, height = thumb
        picture = f'<img src="{uri}" width="{width}" height="{height}" alt="{html.escape(label)}: {name}">'
    else:
        picture = f'<div class="nopreview">{"no preview" if href else "missing"}</div>'
    if href:
        picture = f'<a href="{html.escape(href)}">{picture}</a>'
    caption = f'<span class="label">{html.escape(label)}</span><br>{name}'
    return f"<figure>{picture}<figcaption>{caption}</figcaption></figure>\n"


def _linked_name(path: Path, folder: Path) -> str:
    """The file's escaped name, linked to it when it exists."""
    name = html.escape(display_name(path))
    href = link_target(path, folder)
    return f'<a href="{html.escape(href)}">{name}</a>' if href else name


def link_target(path: Path, folder: Path) -> str | None:
    """The href of `path` from a page in `folder`: a URL-quoted relative path, or a file:// URI where none exists
    (another drive); None when there is nothing to link to. A printf pattern links to its folder, a folder with
    an index.html (a `refocus stack --format html` page) to that page.
    """
    target = path.parent if is_pattern(path) else path
    if target.is_dir() and (target / "index.html").is_file():
        target = target / "index.html"
    if not target.exists():
        return None
    absolute = os.path.abspath(target)
    try:
        relative = os.path.relpath(absolute, folder)
    except ValueError:  # no relative path between drives
        return Path(absolute).as_uri() + ("/" if target.is_dir() else "")
    href = quote(relative.replace(os.sep, "/"), safe="/")
    return href + "/" if target.is_dir() else href


def embedded_thumbnail(path: Path) -> Thumb | None:
    """`path`'s thumbnail as a JPEG data URI with its size, or None when it has no preview."""
    image = thumbnail(path, THUMB_SIDE_PX)
    if image is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMB_QUALITY)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/jpeg;base64,{data}", image.width, image.height
