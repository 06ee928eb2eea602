"""The one rule for what a run reads and writes, checked before any work (no heavy imports).

Every command lists the paths it will read (photos, depth files and folders, kernels, frames, clips, configs,
models) and the paths it will write (outputs, `-depth.png`, `.npy`, page and frame folders, datasets) in a
`RunPaths`, and calls `check_run_paths` before it reads a pixel. Paths are compared after resolving symlinks
and `..`, so no spelling of a path lets a run write over anything it reads, with or without `--overwrite`.
The checks touch only the file system: they take well under a second.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from refocus_cli.errors import InputError, OutputError


@dataclass(frozen=True)
class RunPaths:
    """What one run reads and writes.

    Attributes:
        reads: files read (each must be a regular file: a FIFO, device or socket would hang or stream forever).
        read_folders: folders read as a whole (frame folders, depth folders, datasets, model folders).
        writes: files written (each atomically).
        write_folders: folders written whole (a page, a PNG stack): refused when they exist, unless overwrite.
        fill_folders: folders made or written into file by file (frame outputs, datasets, checkpoints), which
            may exist: their writers decide what an existing one means (resume, overwrite).
        new_folders: folders the run makes, with their parents, before it writes (`--out-dir`); any other
            output's folder must exist already.
    """

    reads: tuple[Path, ...] = ()
    read_folders: tuple[Path, ...] = ()
    writes: tuple[Path, ...] = ()
    write_folders: tuple[Path, ...] = ()
    fill_folders: tuple[Path, ...] = ()
    new_folders: tuple[Path, ...] = ()

    def __add__(self, other: RunPaths) -> RunPaths:
        return RunPaths(
            self.reads + other.reads,
            self.read_folders + other.read_folders,
            self.writes + other.writes,
            self.write_folders + other.write_folders,
            self.fill_folders + other.fill_folders,
            self.new_folders + other.new_folders,
        )


def resolved(path: Path) -> Path:
    """`path` with symlinks and `..` resolved (also when it does not exist yet).

    >>> resolved(Path("/tmp/../tmp/x")) == Path(os.path.realpath("/tmp/x"))
    True
    """
    return Path(os.path.realpath(path))


def check_readable_file(path: Path) -> None:
    """Raise `InputError` unless `path` is an existing regular file that can be opened for reading.

    Never opens anything but a regular file, so a FIFO nobody writes to cannot hang the run.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except NotADirectoryError:
        raise InputError(path, "no such file (a folder on its path is a file)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise InputError(path, "is a folder")
    if not stat.S_ISREG(mode):
        raise InputError(path, f"is not a regular file (a {_kind(mode)}); give a file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None


def check_readable_folder(path: Path) -> None:
    """Raise `InputError` unless `path` is an existing folder."""
    if not path.exists():
        raise InputError(path, "no such folder")
    if not path.is_dir():
        raise InputError(path, "is not a folder")


def check_run_paths(paths: RunPaths, *, overwrite: bool, check_reads: bool = True) -> None:
    """Refuse, in one line naming the path, a run that would lose or cannot write anything.

    In order: every read exists and is a regular file (or folder); no write is a read, lies inside a read
    folder where a file of its name exists, or makes a folder that is or holds a read; no two writes are one file;
    no write exists unless `overwrite`; every write can be made (its nearest existing folder is a folder we
    may write in, its name is not too long). `overwrite` never lets a write replace a read.

    Raises:
        InputError: a read is missing, not a regular file, or unreadable.
        OutputError: an overlap, an existing output without `overwrite`, or an output that cannot be written.
    """
    if check_reads:
        for path in paths.reads:
            check_readable_file(path)
        for folder in paths.read_folders:
            check_readable_folder(folder)
    for folder in paths.new_folders:
        check_writable(folder, overwrite=True, is_folder=True)
    made = [resolved(folder) for folder in paths.new_folders]
    for path in [*paths.writes, *paths.write_folders, *paths.fill_folders]:
        parent = resolved(path).parent
        if not os.path.isdir(parent) and not any(parent == m or _inside(parent, m) for m in made):
            anchor = _nearest_existing(parent)
            if not anchor.is_dir():
                raise OutputError(path, f"cannot be made: {anchor} is a file, not a folder")
            raise OutputError(path, "folder does not exist")
    read_files = {resolved(p): p for p in paths.reads}
    read_folders = [(resolved(p), p) for p in paths.read_folders]
    seen: dict[Path, Path] = {}
    for out in paths.writes:
        target = resolved(out)
        _refuse_overlap(out, target, read_files, read_folders)
        if target in seen:
            raise OutputError(out, f"is written twice by this run (also as {seen[target]})")
        seen[target] = out
        check_writable(out, overwrite=overwrite)
    folders = [(f, False) for f in paths.write_folders] + [(f, True) for f in paths.fill_folders]
    for folder, may_exist in folders:
        target = resolved(folder)
        for read_target, read in [*read_files.items(), *read_folders]:
            if read_target == target or _inside(read_target, target):
                raise OutputError(folder, f"would write where this run reads {read}; choose another output")
        if target in seen:
            raise OutputError(folder, f"is written twice by this run (also as {seen[target]})")
        seen[target] = folder
        check_writable(folder, overwrite=overwrite or may_exist, is_folder=True)


def _refuse_overlap(
    out: Path, target: Path, read_files: dict[Path, Path], read_folders: list[tuple[Path, Path]]
) -> None:
    if target in read_files:
        read = read_files[target]
        same = "" if str(read) == str(out) else f" ({read}: the same file)"
        raise OutputError(out, f"would overwrite an input{same}; choose another output name")
    for folder_target, folder in read_folders:
        if target == folder_target or (_inside(target, folder_target) and os.path.lexists(target)):
            raise OutputError(out, f"would replace a file in {folder}, which this run reads; choose another output")


def check_writable(path: Path, *, overwrite: bool, is_folder: bool = False) -> None:
    """Raise `OutputError` unless `path` can be written: for a file, not an existing file (unless `overwrite`) or
    folder; for a folder, not a file and not existing (unless `overwrite`); its name not too long; its nearest
    existing folder one we can create files in (tried with a hidden probe file, removed at once, so a read-only
    folder or file system is found before any work).
    """
    anchor = _nearest_existing(path.parent)
    if not anchor.is_dir():
        raise OutputError(path, f"cannot be made: {anchor} is a file, not a folder")
    _check_name_lengths(path, anchor)
    if not is_folder:
        if path.is_dir():
            raise OutputError(path, "is a folder")
        if os.path.lexists(path) and not overwrite:
            raise OutputError(path, "exists; pass --overwrite to replace it")
    elif os.path.lexists(path) and not path.is_dir():
        raise OutputError(path, "exists and is not a folder")
    elif path.is_dir() and not overwrite:
        raise OutputError(path, "exists; pass --overwrite to replace it")
    _probe(path, path if is_folder and path.is_dir() else anchor)


def make_folder(folder: Path) -> None:
    """Create `folder` and its parents; an OS error is one line naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(folder, "exists and is not a folder") from None
    except OSError as exc:
        raise OutputError(folder, f"cannot make this folder ({exc.strerror or exc})") from None


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not _exists(path) and path != path.parent:
        path = path.parent
    return path


def _check_name_lengths(path: Path, anchor: Path) -> None:
    try:
        limit = os.pathconf(anchor, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in Path(os.path.abspath(path)).parts:
        if len(os.fsencode(part)) > limit:
            raise OutputError(path, f"name is too long (over {limit} bytes)")
    # Atomic writes add a hidden prefix and a random tag to the name.
    if len(os.fsencode(path.name)) + 16 > limit:
        raise OutputError(path, f"name is too long (over {limit - 16} bytes, with room for a temporary name)")


def _probe(path: Path, anchor: Path) -> None:
    try:
        handle, probe = tempfile.mkstemp(prefix=".refocus-probe-", dir=anchor)
    except OSError as exc:
        problem = "read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else exc.strerror or exc
        raise OutputError(path, f"cannot write in {anchor} ({problem})") from None
    os.close(handle)
    os.unlink(probe)


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


def _inside(path: Path, folder: Path) -> bool:
    return folder in path.parents


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def existing_path(name: str | Path | None) -> Path | None:
    """`name` as a path when something exists there (a model or kernel given as a file or folder), else None."""
    if name is None:
        return None
    path = Path(name)
    return path if os.path.lexists(path) else None


def model_reads(*names: str | Path | None) -> RunPaths:
    """The model folders (or files) among `names` that are paths on this machine: read by the run."""
    folders: list[Path] = []
    files: list[Path] = []
    for name in names:
        path = existing_path(name)
        if path is not None:
            (folders if path.is_dir() else files).append(path)
    return RunPaths(reads=tuple(files), read_folders=tuple(folders))


def unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    """`paths` in order, each once."""
    return tuple(dict.fromkeys(paths))
