"""The JPEG contact sheet: the page's content drawn as one image with Pillow.

A header with the title, the settings and the counts; one row per entry (input | output | depth ... thumbnails,
each labelled, then a caption: status and name, the outputs' names, the summary), and the failures listed at
the bottom in red. JPEG allows at most 65500 pixels a side, so a long batch gets smaller thumbnails (down to
96 px) and, beyond that, the first rows that fit and a line "and N more (see an .html sheet)"; `plan_layout`
decides, from numbers alone. Memory holds the canvas (4 bytes a pixel, at most about 1000 x 65500 at the
smallest thumbnails), one thumbnail, and the cache of those still to be drawn again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.io.contact_sheet_model import (
    ContactSheet,
    SheetEntry,
    ThumbnailCache,
    counts_line,
    display_name,
    has_picture,
    output_label,
)
from refocus_cli.io.thumbnails import thumbnail

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

    Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

MAX_SIDE_PX = 65500
"""Largest width or height of a JPEG (libjpeg's limit)."""
THUMB_SIDES_PX = (320, 256, 192, 128, 96)
"""Thumbnail sizes tried, largest first, until the sheet fits `MAX_SIDE_PX`."""
MAX_TILES = 4
"""Thumbnails a row shows at most (input and three outputs); further outputs are named in the caption."""
MARGIN_PX, GAP_PX, LINE_PX, TITLE_LINE_PX = 24, 10, 20, 38
TEXT_SIZE_PX, TITLE_SIZE_PX = 14, 26
CAPTION_WIDTH_PX = 520
CAPTION_LINES = 4
"""Caption lines a row holds: status and input, outputs, and two of summary."""
MAX_SETTINGS_LINES = 12
QUALITY = 88
INK, MUTED, FAILED_INK, PAPER, BOX = (28, 28, 30), (90, 90, 96), (170, 30, 20), (251, 251, 250), (228, 228, 225)
STATUS_INK = {"done": (30, 110, 50), "skipped": (60, 60, 140), "failed": FAILED_INK}
MORE_ROWS = "and {count} more (see an .html sheet)"


@dataclass(frozen=True)
class SheetPlan:
    """Sizes of a JPEG sheet.

    Attributes:
        thumb_px: longest side of each thumbnail.
        rows: entries drawn (the first ones); `entries - rows` are summed up in one "and N more" line.
        failure_lines: failures listed (the first ones); the rest are summed up in one line.
        width_px, height_px: the image's size, each at most the limit it was planned for.
    """

    thumb_px: int
    rows: int
    failure_lines: int
    width_px: int
    height_px: int


def row_px(thumb_px: int) -> int:
    """Height of one entry's row: a label line over the thumbnail, or the caption, whichever is taller."""
    return max(thumb_px + LINE_PX, CAPTION_LINES * LINE_PX) + GAP_PX


def sheet_width_px(thumb_px: int, tiles: int) -> int:
    """Width of the sheet: `tiles` thumbnail cells and the caption column between margins."""
    return 2 * MARGIN_PX + tiles * (thumb_px + GAP_PX) + CAPTION_WIDTH_PX


def _failures_px(shown: int, total: int) -> int:
    """The failures block: a spacer, its heading (or "no failures"), one line each, one "and N more" line."""
    return LINE_PX * (2 + shown + (shown < total))


def plan_layout(
    entries: int, failures: int, *, tiles: int, header_px: int, max_side_px: int = MAX_SIDE_PX
) -> SheetPlan:
    """The largest thumbnails at which every entry and failure fits in `max_side_px`; past the smallest, the
    first rows that fit (failure lines take at most a quarter of the room), with "and N more" lines.

    >>> plan_layout(3, 1, tiles=3, header_px=100).thumb_px
    320
    >>> long = plan_layout(2000, 0, tiles=3, header_px=100)
    >>> long.thumb_px, long.rows < 2000, long.height_px <= 65500
    (96, True, True)
    """
    for thumb_px in THUMB_SIDES_PX:
        height = header_px + entries * row_px(thumb_px) + _failures_px(failures, failures) + MARGIN_PX
        if height <= max_side_px:
            return SheetPlan(thumb_px, entries, failures, sheet_width_px(thumb_px, tiles), height)
    thumb_px = THUMB_SIDES_PX[-1]
    room = max_side_px - header_px - MARGIN_PX - LINE_PX  # the "and N more" line under the rows
    shown_failures = min(failures, max(0, room // 4 // LINE_PX - 3))
    rows = min(entries, max(0, (room - _failures_px(shown_failures, failures)) // row_px(thumb_px)))
    height = (
        header_px
        + rows * row_px(thumb_px)
        + LINE_PX * (rows < entries)
        + _failures_px(shown_failures, failures)
        + MARGIN_PX
    )
    return SheetPlan(thumb_px, rows, shown_failures, sheet_width_px(thumb_px, tiles), height)


def write_jpeg_sheet(sheet: ContactSheet, path: Path, *, max_side_px: int = MAX_SIDE_PX) -> None:
    """Draw `sheet` and save it as a JPEG at `path` (the caller's temporary file)."""
    from PIL import Image, ImageDraw

    tiles = min(MAX_TILES, 1 + max((_picture_count(entry) for entry in sheet.entries), default=0))
    text_width = sheet_width_px(THUMB_SIDES_PX[-1], tiles) - 2 * MARGIN_PX
    settings = _settings_lines(sheet.settings, text_width)
    header_px = MARGIN_PX + TITLE_LINE_PX + LINE_PX * (len(settings) + 1) + GAP_PX
    failures = sheet.failures()
    plan = plan_layout(len(sheet.entries), len(failures), tiles=tiles, header_px=header_px, max_side_px=max_side_px)

    canvas = Image.new("RGB", (plan.width_px, plan.height_px), PAPER)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN_PX, MARGIN_PX), _fit(sheet.title, _font(TITLE_SIZE_PX), text_width), INK, _font(TITLE_SIZE_PX))
    y = MARGIN_PX + TITLE_LINE_PX
    for line in settings:
        draw.text((MARGIN_PX, y), line, MUTED, _font(TEXT_SIZE_PX))
        y += LINE_PX
    draw.text((MARGIN_PX, y), counts_line(sheet), INK, _font(TEXT_SIZE_PX))
    y = header_px

    drawn = sheet.entries[: plan.rows]
    uses = [path for entry in drawn for _, path in _tiles(entry, tiles)]
    cache: ThumbnailCache[Image.Image] = ThumbnailCache(uses, lambda p: thumbnail(p, plan.thumb_px))
    for number, entry in enumerate(drawn, start=1):
        _draw_row(canvas, draw, entry, number, y, plan, tiles, cache)
        y += row_px(plan.thumb_px)
    if plan.rows < len(sheet.entries):
        draw.text((MARGIN_PX, y), MORE_ROWS.format(count=len(sheet.entries) - plan.rows), INK, _font(TEXT_SIZE_PX))
        y += LINE_PX
    _draw_failures(draw, failures, plan, y + LINE_PX)
    canvas.save(path, format="JPEG", quality=QUALITY)


def _picture_count(entry: SheetEntry) -> int:
    return sum(has_picture(path) for path in entry.outputs)


def _tiles(entry: SheetEntry, tiles: int) -> list[tuple[str, Path]]:
    """(label, path) of the thumbnails a row draws: the input, then its outputs with a picture."""
    outputs = [(output_label(p, i), p) for i, p in enumerate(entry.outputs) if has_picture(p)]
    return [("input", entry.source), *outputs][:tiles]


def _draw_row(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    entry: SheetEntry,
    number: int,
    y: int,
    plan: SheetPlan,
    tiles: int,
    cache: ThumbnailCache[Image.Image],
) -> None:
    """One entry: its labelled thumbnails left, its caption right, a rule above."""
    font, side = _font(TEXT_SIZE_PX), plan.thumb_px
    draw.line((MARGIN_PX, y - GAP_PX // 2, plan.width_px - MARGIN_PX, y - GAP_PX // 2), fill=BOX)
    x = MARGIN_PX
    for label, path in _tiles(entry, tiles):
        draw.text((x, y), _fit(label, font, side), MUTED, font)
        box = (x, y + LINE_PX, x + side, y + LINE_PX + side)
        image = cache.get(path)
        if image is None:
            draw.rectangle(box, fill=BOX)
            note = "no preview" if path.exists() else "missing"
            draw.text((x + 6, y + LINE_PX + 6), _fit(note, font, side - 12), MUTED, font)
        else:
            canvas.paste(image, (x + (side - image.width) // 2, y + LINE_PX))  # centred under its label
        x += side + GAP_PX
    x = MARGIN_PX + tiles * (side + GAP_PX)
    width = CAPTION_WIDTH_PX - GAP_PX
    head = f"{number}. {entry.status}: "
    draw.text((x, y), head, STATUS_INK[entry.status], font)
    head_px = int(font.getlength(head))
    draw.text((x + head_px, y), _fit(display_name(entry.source), font, width - head_px), INK, font)
    names = ", ".join(f"{output_label(p, i)} {display_name(p)}" for i, p in enumerate(entry.outputs))
    draw.text((x, y + LINE_PX), _fit(names or "no output", font, width), MUTED, font)
    colour = FAILED_INK if entry.status == "failed" else INK
    for i, line in enumerate(_wrap(entry.summary, font, width, CAPTION_LINES - 2)):
        draw.text((x, y + LINE_PX * (2 + i)), line, colour, font)


def _draw_failures(draw: ImageDraw.ImageDraw, failures: list[SheetEntry], plan: SheetPlan, y: int) -> None:
    """The failures at the bottom, in red: a heading, one line each (those that fit), and the count left out."""
    font = _font(TEXT_SIZE_PX)
    width = plan.width_px - 2 * MARGIN_PX
    if not failures:
        draw.text((MARGIN_PX, y), "No failures", INK, font)
        return
    draw.text((MARGIN_PX, y), f"Failures ({len(failures)})", FAILED_INK, font)
    for entry in failures[: plan.failure_lines]:
        y += LINE_PX
        draw.text((MARGIN_PX, y), _fit(f"{display_name(entry.source)}: {entry.summary}", font, width), FAILED_INK, font)
    if plan.failure_lines < len(failures):
        draw.text((MARGIN_PX, y + LINE_PX), f"and {len(failures) - plan.failure_lines} more failures", FAILED_INK, font)


def _settings_lines(settings: tuple[tuple[str, str], ...], width: int) -> list[str]:
    """The settings as "option value" items packed into lines of `width` pixels (at most MAX_SETTINGS_LINES)."""
    font = _font(TEXT_SIZE_PX)
    lines: list[str] = []
    for item in (f"{option} {value}" for option, value in settings):
        joined = f"{lines[-1]}    {item}" if lines else item
        if lines and font.getlength(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(_fit(item, font, width))
    if len(lines) > MAX_SETTINGS_LINES:
        lines = [*lines[: MAX_SETTINGS_LINES - 1], "..."]
    return lines or ["default settings"]


def _fit(text: str, font: Font, width: int) -> str:
    """`text` on one line, cut with "..." at the end to fit `width` pixels (a binary search over its length)."""
    text = " ".join(text.split())
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + "...") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "..."


def _wrap(text: str, font: Font, width: int, lines: int) -> list[str]:
    """`text` broken at spaces into at most `lines` lines of `width` pixels, the last cut with "..."."""
    words, out = " ".join(text.split()), list[str]()
    while words and len(out) < lines - 1:
        line = _fit(words, font, width)
        if line == words:
            return [*out, line]
        cut = len(line) - 3
        space = words.rfind(" ", 0, cut + 1)
        cut = space if space > cut // 2 else cut
        out.append(words[:cut].rstrip())
        words = words[cut:].lstrip()
    return [*out, _fit(words, font, width)] if words else out


@cache
def _font(size_px: int) -> Font:
    """Pillow's bundled font at `size_px` (no font files needed; a fixed bitmap font where Pillow lacks FreeType)."""
    from PIL import ImageFont

    return ImageFont.load_default(size=size_px)
