"""Turning the command line's inputs and outputs into file paths (no heavy imports)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from refocus_cli.errors import InputError, OutputError, RefocusError, SettingsError
from refocus_cli.io.formats import DEPTH_SUFFIXES, IMAGE_SUFFIXES, READ_ONLY_SUFFIXES
from refocus_cli.io.run_paths import RunPaths, check_readable_file, resolved, unique


def expand_inputs(items: list[str]) -> list[Path]:
    """`find_inputs` without leaving anything out: every image of a folder or glob."""
    return find_inputs(items, own_suffixes=(), keep_own=True).paths


@dataclass(frozen=True)
class FoundInputs:
    """The inputs named on the command line, and one note per folder or glob that left files out."""

    paths: list[Path]
    notes: tuple[str, ...] = ()


def find_inputs(
    items: list[str],
    *,
    own_suffixes: tuple[str, ...] = (),
    depth_folder: Path | None = None,
    keep_own: bool = False,
) -> FoundInputs:
    """Files as given, globs the shell left alone, and the images inside folders (sorted, not recursive).

    Out of folders and globs go this tool's own outputs beside their photos (`own_suffixes`: the names
    `refocus image` adds) and depth maps kept beside photos, unless `keep_own`; the --depth folder given as an
    input is not read as photos. A file named on its own is always kept. A name that matches nothing stays in
    the list, so reading it later reports 'no such file' for it.
    """
    from refocus_cli.io.own_outputs import leave_out_own

    paths: list[Path] = []
    notes: list[str] = []

    def add(found: list[Path], where: str) -> None:
        if keep_own:
            paths.extend(found)
            return
        kept, left = leave_out_own(found, own_suffixes)
        note = left.note(where)
        if not kept and note:
            raise InputError(where, f"holds no photos of its own: {note.split(': left out ', 1)[1]}")
        paths.extend(kept)
        if note:
            notes.append(note)

    for item in items:
        path = Path(item)
        if path.is_dir():
            if depth_folder is not None and resolved(path) == resolved(depth_folder):
                notes.append(f"{path}: the --depth folder, not read as photos")
                continue
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(path, "folder holds no images (.jpg, .png, .tif, .webp, .heic)")
            add(found, str(path))
        elif not path.exists() and glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item))
            if not matches:
                raise InputError(item, "no file matches this pattern")
            add(matches, item)
        else:
            paths.append(path)
    if not paths and notes:
        raise InputError(items[0], f"no photos to work on ({'; '.join(notes)})")
    return FoundInputs(list(dict.fromkeys(paths)), tuple(notes))  # a file named twice is done once


def output_path_for(
    source: Path, *, output: Path | None, out_dir: Path | None, suffix: str, extension: str | None
) -> Path:
    """Where one input's result goes: -o, else out_dir/<stem><suffix><ext>, else beside the input."""
    if output is not None:
        return output
    ext = f".{extension.lstrip('.')}" if extension else READ_ONLY_SUFFIXES.get(source.suffix.lower(), source.suffix)
    name = f"{source.stem}{suffix}{ext}"
    return (out_dir / name) if out_dir is not None else source.with_name(name)


def check_outputs(inputs: list[Path], outputs: list[Path]) -> None:
    """Refuse two inputs writing the same output (an output that is an input is refused by the one rule of
    `io.run_paths`, with every other path the run reads)."""
    seen: dict[Path, Path] = {}
    for source, out in zip(inputs, outputs, strict=True):
        target = resolved(out)
        if target in seen:
            raise OutputError(out, f"both {seen[target]} and {source} would be written here")
        seen[target] = source


def depth_for(source: Path, depth: Path | None, many: bool) -> Path | None:
    """The depth file of one input: the file given, or <stem>.<ext> in the folder given (for batches)."""
    if depth is None or not depth.is_dir():
        if many and depth is not None:
            raise SettingsError(
                "with several inputs, --depth must be a folder holding <stem>.png (or .tif, .npy, .pfm)"
            )
        return depth
    for suffix in DEPTH_SUFFIXES:
        candidate = depth / f"{source.stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(source, f"no depth map for it in {depth} (looked for {source.stem}.png, .tif, .npy, .pfm)")


@dataclass(frozen=True)
class InputPlan:
    """The inputs of a batch, looked at once before any work.

    Attributes:
        problems: input -> its one-line error (missing, a folder, a FIFO, no readable depth file); those inputs
            fail at once and the rest of the batch goes on.
        depth_files: input -> the depth file it reads (None: no file, or a forced source).
        reads: every photo, depth file and depth folder the batch reads, for the overlap rule.
    """

    problems: dict[Path, RefocusError]
    depth_files: dict[Path, Path | None]
    reads: RunPaths


def plan_inputs(sources: list[Path], depth: Path | None, forced_source: bool) -> InputPlan:
    """Check each input and find its depth file (a file given, or `<stem>.*` in a depth folder) once."""
    problems: dict[Path, RefocusError] = {}
    depth_files: dict[Path, Path | None] = {}
    many = len(sources) > 1
    for source in sources:
        depth_files[source] = None
        try:
            check_readable_file(source)
            found = depth_files[source] = None if forced_source else depth_for(source, depth, many)
            if found is not None:
                check_readable_file(found)
        except RefocusError as error:
            problems[source] = error
    reads = [s for s in sources if os.path.lexists(s)]
    reads += [f for f in depth_files.values() if f is not None and os.path.lexists(f)]
    if depth is not None and not forced_source and not depth.is_dir() and os.path.lexists(depth):
        reads.append(depth)
    folders = (depth,) if depth is not None and not forced_source and depth.is_dir() else ()
    return InputPlan(problems, depth_files, RunPaths(reads=unique(reads), read_folders=folders))
