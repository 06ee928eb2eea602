"""What a folder holds besides the photos to work on: the files this tool wrote there on an earlier run (a
refocused photo, its depth map and preview, a fused stack) and depth maps kept beside their photos. A folder or
glob given as input leaves them out, so re-running a batch beside its inputs does not refocus its own outputs.

Recognised by name: an output beside the photo it was made from (`a.jpg` with `a_refocus.jpg`,
`a_refocus-depth-preview.png`, `a-fused.jpg`), a depth map by its marker (`a-depth.png`, `a_disparity.tif`).
Names only: no file is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEPTH_MARKERS = ("-depth", "_depth", ".depth", "-disparity", "_disparity")
"""How a depth map kept beside its photo ends its name: `<stem>-depth.png`, `<stem>_disparity.tif`, ..."""
DEPTH_NAME_PATTERNS = ("depth/{stem}", *(f"{{stem}}{marker}" for marker in DEPTH_MARKERS))
"""Names (without suffix, relative to the photo's folder) where a photo's depth file is looked for."""
OUTPUT_EXTRAS = ("-depth-preview", "-depth")
"""What `--save-depth` adds to an output's stem."""
FUSED = "-fused"
"""What `refocus stack --fuse` adds to the first frame's stem."""


@dataclass
class LeftOut:
    """The files of a folder left out, by why."""

    outputs: list[Path] = field(default_factory=list)
    depth_maps: list[Path] = field(default_factory=list)

    def note(self, where: str) -> str | None:
        """One line for the user, or None when nothing was left out."""
        parts = []
        if self.outputs:
            parts.append(f"{_count(len(self.outputs), 'file')} this tool wrote ({_names(self.outputs)})")
        if self.depth_maps:
            parts.append(f"{_count(len(self.depth_maps), 'depth map')} ({_names(self.depth_maps)})")
        if not parts:
            return None
        return f"{where}: left out {' and '.join(parts)}; name a file to use it anyway"


def is_depth_name(path: Path) -> bool:
    """`path` is named as a depth map kept beside a photo."""
    return any(path.stem.endswith(marker) for marker in DEPTH_MARKERS)


def own_output_base(path: Path, suffixes: tuple[str, ...]) -> str | None:
    """The stem of the photo `path` would have been made from, by its name (`a_refocus-depth.png` -> `a`), or None.

    >>> own_output_base(Path("a_refocus-depth-preview.png"), ("_refocus",))
    'a'
    >>> own_output_base(Path("a-fused.jpg"), ("_refocus",)), own_output_base(Path("b.jpg"), ("_refocus",))
    ('a', None)
    """
    stem = path.stem
    for extra in OUTPUT_EXTRAS:
        if stem.endswith(extra):
            stem = stem[: -len(extra)]
            break
    for ending in (*suffixes, FUSED):
        if ending and stem.endswith(ending) and len(stem) > len(ending):
            return stem[: -len(ending)]
    return None


def leave_out_own(paths: list[Path], suffixes: tuple[str, ...]) -> tuple[list[Path], LeftOut]:
    """The photos among `paths` (one folder's files, or a glob's), without this tool's outputs (named after a
    photo in the same folder) and depth maps."""
    from refocus_cli.io.formats import IMAGE_SUFFIXES

    photo_stems: dict[Path, set[str]] = {}
    kept: list[Path] = []
    left = LeftOut()
    for path in paths:
        if path.parent not in photo_stems:
            try:
                names = [entry.name for entry in os.scandir(path.parent) if entry.is_file()]
            except OSError:
                names = []
            photo_stems[path.parent] = {Path(n).stem for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES}
        base = own_output_base(path, suffixes)
        if base is not None and base in photo_stems[path.parent]:
            left.outputs.append(path)
        elif is_depth_name(path):
            left.depth_maps.append(path)
        else:
            kept.append(path)
    return kept, left


def _names(paths: list[Path], shown: int = 3) -> str:
    names = ", ".join(path.name for path in paths[:shown])
    return names + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
