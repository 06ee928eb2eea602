"""Shared pieces of the adversarial tests (tests/test_adversarial_*.py): run the CLI, hash every file, check
that a failure is one line naming the file, and make the hostile files (FIFOs, read-only folders) they need."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app


def run_cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `refocus ARGS`, in-process; `cwd` is the working folder during the run."""
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(previous)
    return result.exit_code, result.stdout, result.stderr


def snapshot_hashes(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every regular file under `root`; folders as 'folder', symlinks as 'link to
    TARGET', FIFOs and other special files as 'special' (so an added folder or file shows too)."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            hashes[key] = f"link to {os.readlink(path)}"
        elif path.is_dir():
            hashes[key] = "folder"
        else:
            hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "special"
    return hashes


def assert_one_error_line(output: str, must_contain: str) -> None:
    """`output` (stderr) is exactly one line, `refocus: error: ...`, containing `must_contain`, and no traceback."""
    lines = output.strip("\n").splitlines()
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    assert lines[0].startswith("refocus: error: "), output
    assert must_contain in lines[0], output


def write_photo(path: Path, size_hw: tuple[int, int] = (32, 48), seed: int = 0) -> Path:
    """A small noise photo (PNG, JPEG or any Pillow format by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size_hw, 3), dtype=np.uint8)).save(path)
    return path


def write_depth(path: Path, size_hw: tuple[int, int] = (32, 48)) -> Path:
    """A disparity PNG: left half near, right half far."""
    path.parent.mkdir(parents=True, exist_ok=True)
    disparity = np.zeros(size_hw, np.uint8)
    disparity[:, : size_hw[1] // 2] = 255
    Image.fromarray(disparity).save(path)
    return path


def write_kernel(path: Path, size: int = 15) -> Path:
    """A white disc on black: an aperture kernel image."""
    yy, xx = np.mgrid[:size, :size] - size // 2
    Image.fromarray(((xx**2 + yy**2 <= (size // 2) ** 2) * 255).astype(np.uint8)).save(path)
    return path


@contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """`folder`, made so that nothing can be created in it, also for root: a read-only tmpfs mounted there when
    the permission bits do not stop this user. Skips the test where neither can be had."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    mounted = False
    try:
        if _can_create_in(folder) and shutil.which("mount") is not None:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True, check=False
            )
            mounted = done.returncode == 0
        if _can_create_in(folder):
            pytest.skip("cannot make a read-only folder here (root without mount)")
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], capture_output=True, check=False)
        folder.chmod(0o755)


def _can_create_in(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True
