"""What a contact sheet shows: the batch's entries and settings, the names of each output, and a thumbnail cache.

Shared by the HTML and the JPEG renderers (`io.contact_sheet_html`, `io.contact_sheet_image`); the public face
is `io.contact_sheet`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

Status = Literal["done", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("done", "skipped", "failed")

T = TypeVar("T")


@dataclass(frozen=True)
class SheetEntry:
    """One input of a batch and what became of it.

    Attributes:
        source: the input (a photo, a clip, a folder of frames).
        outputs: what it wrote, main output first, then e.g. its depth map and the depth preview; for a skipped
            input the outputs already there; usually empty for a failed one.
        status: "done", "skipped" (its output existed) or "failed".
        summary: one line: the settings found or used for it (focus, blur, timings), or the error message.
    """

    source: Path
    outputs: tuple[Path, ...]
    status: Status
    summary: str


@dataclass(frozen=True)
class ContactSheet:
    """A batch to show on one page or image.

    Attributes:
        title: e.g. "refocus image".
        settings: (option, value) pairs shown at the top, e.g. ("--blur", "8").
        entries: one per input, in the batch's order.
    """

    title: str
    settings: tuple[tuple[str, str], ...]
    entries: tuple[SheetEntry, ...]

    def counts(self) -> dict[Status, int]:
        """Entries per status, every status present.

        >>> ContactSheet("t", (), (SheetEntry(Path("a"), (), "failed", "bad"),)).counts()
        {'done': 0, 'skipped': 0, 'failed': 1}
        """
        found = Counter(entry.status for entry in self.entries)
        return {status: found[status] for status in STATUSES}

    def failures(self) -> list[SheetEntry]:
        """The failed entries, in order."""
        return [entry for entry in self.entries if entry.status == "failed"]


def counts_line(sheet: ContactSheet) -> str:
    """ "3 done, 1 skipped, 0 failed" for `sheet`.

    >>> counts_line(ContactSheet("t", (), ()))
    '0 done, 0 skipped, 0 failed'
    """
    return ", ".join(f"{count} {status}" for status, count in sheet.counts().items())


def output_label(path: Path, index: int) -> str:
    """What an output is, from its place and name: the first is "output"; `<stem>-depth-preview.<ext>` is
    "depth preview", `<stem>-depth.<ext>` is "depth" ("depth (.npy)" for arrays); others are "output N".

    >>> [output_label(Path(n), i) for i, n in enumerate(["a.jpg", "a-depth.png", "a-depth-preview.png", "a-depth.npy"])]
    ['output', 'depth', 'depth preview', 'depth (.npy)']
    """
    stem, suffix = path.stem.lower(), path.suffix.lower()
    if index > 0 and stem.endswith("-depth-preview"):
        return "depth preview"
    if index > 0 and (stem.endswith("-depth") or stem == "depth"):
        return "depth (.npy)" if suffix == ".npy" else "depth"
    return "output" if index == 0 else f"output {index + 1}"


def has_picture(path: Path) -> bool:
    """Whether an output is shown as a thumbnail (arrays such as .npy are listed as links only)."""
    return path.suffix.lower() not in (".npy", ".pfm", ".json")


def display_name(path: Path) -> str:
    """A file's name as shown: its name, with a slash after a folder."""
    return f"{path.name}/" if path.is_dir() else path.name


class ThumbnailCache(Generic[T]):
    """Each path's thumbnail made once per sheet, and kept only while the path is still to be shown again.

    `uses` lists every path as often as the sheet will ask for it; a thumbnail is dropped after its last use, so
    memory holds only those of paths shown more than once and not yet done with (no full-size images ever).
    """

    def __init__(self, uses: Iterable[Path], make: Callable[[Path], T | None]) -> None:
        self._remaining = Counter(uses)
        self._make = make
        self._kept: dict[Path, T | None] = {}

    def get(self, path: Path) -> T | None:
        """The thumbnail of `path` (None when it has none), made on the first call."""
        value = self._kept[path] if path in self._kept else self._make(path)
        self._remaining[path] -= 1
        if self._remaining[path] > 0:
            self._kept[path] = value
        else:
            self._kept.pop(path, None)
            self._remaining.pop(path, None)
        return value


def thumbnail_uses(sheet: ContactSheet) -> list[Path]:
    """Every path a renderer draws a thumbnail of, as often as it draws it: each entry's input and its outputs
    with a picture."""
    uses: list[Path] = []
    for entry in sheet.entries:
        uses.append(entry.source)
        uses.extend(path for path in entry.outputs if has_picture(path))
    return uses
