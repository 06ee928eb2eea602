"""The EXIF fields a photo's pipe reads (Orientation, the camera settings, Software), read as untrusted input.

EXIF is written by every kind of program and is easy to forge, and none of these fields is needed to refocus a
photo, so a bad one never fails it: a field of the wrong type or count, a number that is not finite, zero where
zero means nothing, negative or out of its range, a rational with a zero denominator, or an EXIF block Pillow
cannot parse, is ignored and a note says so ("photo.jpg: EXIF Orientation 'abc' is not 1-8; ignored").

Zero is EXIF's own "unknown" for SubjectDistance and FocalLengthIn35mmFilm: those are left out without a note.
"""

from __future__ import annotations

import math
import numbers
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, TiffImagePlugin

from refocus_cli.errors import one_line

EXIF_IFD = 0x8769
ORIENTATION = 0x0112
SOFTWARE = 0x0131
CAMERA_TAGS = {
    0x829D: "FNumber",
    0x920A: "FocalLength",
    0xA405: "FocalLengthIn35mmFilm",
    0x9206: "SubjectDistance",
}
"""EXIF tag id -> standard name, for the tags `ExifFields.camera_tags` collects."""
CAMERA_MAXIMA = {"FNumber": 1024.0, "FocalLength": 100_000.0, "FocalLengthIn35mmFilm": 100_000.0}
"""Largest value believed for a camera tag (mm for the focal lengths): beyond any lens, so a forged number."""
UNKNOWN_IF_ZERO = frozenset({"SubjectDistance", "FocalLengthIn35mmFilm"})
"""Tags for which the EXIF standard writes 0 for "unknown": no note for those."""
MAX_SOFTWARE_CHARS = 200
PARSE_ERRORS = (struct.error, ValueError, TypeError, KeyError, IndexError, OSError, EOFError, SyntaxError, zlib.error)
"""What Pillow's EXIF parser raises on a malformed block (it also warns, and truncates fields of the wrong count)."""
T = TypeVar("T")


@dataclass(frozen=True)
class ExifFields:
    """What the pipe takes from a photo's EXIF, each field checked.

    Attributes:
        orientation: IFD0 Orientation 1-8 (1 when absent or ignored).
        camera_tags: finite positive numbers by standard name: FNumber, FocalLength (mm),
            FocalLengthIn35mmFilm (mm), SubjectDistance (m); absent or ignored tags are absent.
        software: EXIF Software ("" when absent or ignored).
        notes: one line per ignored field, each starting with the photo's path.
    """

    orientation: int = 1
    camera_tags: dict[str, float] = field(default_factory=dict)
    software: str = ""
    notes: tuple[str, ...] = ()


def read_exif_fields(path: Path, img: Image.Image) -> ExifFields:
    """Orientation, camera settings and Software of an open image's EXIF; bad fields ignored with a note.

    >>> fields = read_exif_fields(Path("a.png"), Image.new("RGB", (1, 1)))
    >>> fields.orientation, fields.camera_tags, fields.notes
    (1, {}, ())
    """
    notes: list[str] = []
    raw = img.info.get("exif")
    if isinstance(raw, bytes):  # parsed afresh for its notes: Pillow parsed it while opening, warnings unheard
        _guarded(path, "EXIF", lambda: Image.Exif().load(raw), None, notes, whole=True)
    exif = exif_of(path, img, notes)
    empty: dict[int, Any] = {}
    sub_ifd = _guarded(path, "EXIF sub-IFD", lambda: dict(exif.get_ifd(EXIF_IFD)), empty, notes, whole=True)
    camera_tags: dict[str, float] = {}
    for tag, name in CAMERA_TAGS.items():
        source: Mapping[int, Any] = sub_ifd if tag in sub_ifd else exif
        value = _guarded(path, f"EXIF {name}", partial(source.get, tag), None, notes)
        number = _camera_number(path, name, value, notes)
        if number is not None:
            camera_tags[name] = number
    software = _software(path, exif, notes)
    return ExifFields(_orientation(path, exif, notes), camera_tags, software, tuple(dict.fromkeys(notes)))


def exif_of(path: Path, img: Image.Image, notes: list[str]) -> Image.Exif:
    """The image's EXIF as Pillow parses it; an empty one (and a note) when it cannot be parsed."""
    return _guarded(path, "EXIF", img.getexif, Image.Exif(), notes, whole=True)


def photo_orientation(path: Path, img: Image.Image) -> int:
    """The checked EXIF Orientation (1-8) of an open image, 1 when absent or bad (the notes are dropped)."""
    notes: list[str] = []
    return _orientation(path, exif_of(path, img, notes), notes)


def _orientation(path: Path, exif: Mapping[int, Any], notes: list[str]) -> int:
    """IFD0 Orientation when it is one integer 1-8, else 1 (with a note when present)."""
    failed: list[str] = []
    value = _guarded(path, "EXIF Orientation", partial(exif.get, ORIENTATION), None, failed)
    if failed or value is None:
        notes.extend(failed)
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    notes.append(f"{path}: EXIF Orientation {shown(value)} is not 1-8; ignored")
    return 1


def _camera_number(path: Path, name: str, value: object, notes: list[str]) -> float | None:
    """A camera tag as a finite positive float within `CAMERA_MAXIMA`; None (with a note when bad) otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        what = "several values, not one number" if isinstance(value, tuple) else "not a number"
        notes.append(f"{path}: EXIF {name} {shown(value)} is {what}; ignored")
        return None
    try:
        number = float(value)
    except (ZeroDivisionError, ValueError, OverflowError):
        number = math.nan
    if number == 0 and name in UNKNOWN_IF_ZERO:
        return None
    if not (math.isfinite(number) and number > 0):
        notes.append(f"{path}: EXIF {name} {shown(value)} is not a positive number; ignored")
        return None
    if number > CAMERA_MAXIMA.get(name, math.inf):
        notes.append(f"{path}: EXIF {name} {shown(value)} is over {CAMERA_MAXIMA[name]:g}, beyond any lens; ignored")
        return None
    return number


def _software(path: Path, exif: Mapping[int, Any], notes: list[str]) -> str:
    """EXIF Software as text ("" when absent, or not text: with a note)."""
    value = _guarded(path, "EXIF Software", partial(exif.get, SOFTWARE), None, notes)
    if value is None:
        return ""
    if not isinstance(value, str):
        notes.append(f"{path}: EXIF Software {shown(value)} is not text; ignored")
        return ""
    return value.strip("\x00 ")[:MAX_SOFTWARE_CHARS]


def _guarded(path: Path, what: str, read: Callable[[], T], default: T, notes: list[str], *, whole: bool = False) -> T:
    """`read()`, with Pillow's parse errors turned into a note and `default`.

    Pillow warns where it skips a malformed entry of a block, or truncates a field of the wrong count: for a
    `whole` block that is a note (the rest is kept), for one field the field is ignored.
    """
    with _caught_warnings() as caught:
        try:
            value = read()
        except PARSE_ERRORS as error:
            notes.append(f"{path}: {what} is malformed ({one_line(error, 100)}); ignored")
            return default
    if not caught:
        return value
    detail = one_line(caught[0].message, 100) if isinstance(caught[0].message, Warning) else str(caught[0].message)
    if whole:
        notes.append(f"{path}: {what} is partly malformed ({detail}); that part ignored")
        return value
    notes.append(f"{path}: {what} is malformed ({detail}); ignored")
    return default


@contextmanager
def _caught_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning raised inside (Pillow warns about, and truncates, fields of the wrong count)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def shown(value: object, limit: int = 40) -> str:
    """A field's value as a note shows it: a rational as n/d, text quoted, shortened to `limit` characters.

    >>> shown(TiffImagePlugin.IFDRational(50, 0)), shown("abc"), shown((1, 2))
    ('50/0', "'abc'", '(1, 2)')
    """
    rational = isinstance(value, TiffImagePlugin.IFDRational)
    text = f"{value.numerator}/{value.denominator}" if rational else repr(value)  # type: ignore[attr-defined]
    return text if len(text) <= limit else text[: limit - 1] + "…"
