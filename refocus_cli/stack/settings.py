"""A focal stack's settings and output name, checked before any photo is read (no heavy imports)."""

from __future__ import annotations

from pathlib import Path

from refocus_cli.errors import SettingsError
from refocus_cli.lens import check_blur_k

STACK_FORMATS = ("mp4", "gif", "png", "html")
MAX_FRAMES = 240


def check_stack_settings(frames: int, fmt: str, fps: float, blur_k_px: float) -> None:
    """Raise SettingsError (one line) for settings no stack can have."""
    if not 1 <= frames <= MAX_FRAMES:
        raise SettingsError(f"--frames must be between 1 and {MAX_FRAMES}, got {frames}")
    if fmt not in STACK_FORMATS:
        raise SettingsError(f"--format must be one of {', '.join(STACK_FORMATS)}, got {fmt!r}")
    if not 0 < fps <= 240:
        raise SettingsError(f"--fps must be between 0 and 240, got {fps:g}")
    check_blur_k(blur_k_px)


def stack_output_path(source: Path, output: Path | None, out_dir: Path | None, fmt: str) -> Path:
    """-o as given, else `<stem>-stack.<ext>` (a folder `<stem>-stack` for png and html) beside the input or
    in --out-dir."""
    if output is not None:
        return output
    name = f"{source.stem}-stack" + (f".{fmt}" if fmt in ("mp4", "gif") else "")
    return (out_dir or source.parent) / name
