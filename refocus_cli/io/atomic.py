"""Atomic output: write to a temporary file beside the target, then rename it into place.

A reader of the target sees either the old file or the complete new one, never a half-written file, and a
failed write leaves nothing behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from refocus_cli.errors import OutputError, RefocusError


@contextmanager
def atomic_output(path: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder; on success rename it onto `path` with `os.replace`.

    The temporary name is `.{stem}.tmp-{random}{suffix}`: hidden, and with the real suffix so that writers
    which pick the format from the name (Pillow) still do. The body must create the file at the yielded path.
    On any exception the temporary file is removed and the exception propagates; an `OSError` from the body
    or the rename becomes an `OutputError` naming `path`.

    Raises:
        OutputError: `path` exists and `overwrite` is false; `path` is a folder; its folder does not exist;
            the file cannot be written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_output(Path(folder) / "out.txt", overwrite=False) as tmp:
    ...         _ = tmp.write_text("done")
    ...     sorted(p.name for p in Path(folder).iterdir())
    ['out.txt']
    """
    _check_target(path, overwrite=overwrite)
    tmp = path.with_name(f".{path.stem}.tmp-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield tmp
        _check_target(path, overwrite=overwrite)  # it may have appeared while we wrote
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, RefocusError):
            raise OutputError(path, f"cannot write ({exc.strerror or exc})") from exc
        raise


def check_target(path: Path, *, overwrite: bool) -> None:
    """Raise `OutputError` unless `path` may be (over)written: its folder exists, it is not a folder, and it does
    not exist unless `overwrite`. For a check up front, before a long job that ends in `atomic_output`."""
    _check_target(path, overwrite=overwrite)


def _check_target(path: Path, *, overwrite: bool) -> None:
    """Raise `OutputError` unless `path` may be (over)written."""
    if not path.parent.is_dir():
        raise OutputError(path, "folder does not exist")
    if path.is_dir():
        raise OutputError(path, "is a folder")
    if path.exists() and not overwrite:
        raise OutputError(path, "exists; pass --overwrite to replace it")


@contextmanager
def atomic_folder(folder: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a hidden temporary folder beside `folder`; on success it replaces `folder` (two renames when one
    exists), on any exception it is removed. An `OSError` becomes an `OutputError` naming `folder`.

    Raises:
        OutputError: `folder` is a file, exists without `overwrite`, its parent is missing, or writing fails.
    """
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "exists and is not a folder")
    if folder.exists() and not overwrite:
        raise OutputError(folder, "exists; pass --overwrite to replace it")
    if not folder.parent.is_dir():
        raise OutputError(folder, "folder does not exist")
    tmp = folder.with_name(f".{folder.name}.tmp-{secrets.token_hex(4)}")
    try:
        tmp.mkdir()
        yield tmp
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{secrets.token_hex(4)}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, RefocusError):
            raise OutputError(folder, f"cannot write ({exc.strerror or exc})") from exc
        raise
