"""Still-image formats by suffix: what is read as a photo or depth file, and what is written (no heavy imports:
the commands check outputs before any work)."""

from __future__ import annotations

from pathlib import Path

from refocus_cli.errors import OutputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi")
"""Video files by suffix, for reading, writing, previews and folder inputs (in the order messages list them)."""
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic"})
"""Photos the commands take (folders are searched for these)."""
READ_ONLY_SUFFIXES = {".heic": ".jpg"}
"""Input formats we do not write -> the extension their outputs get when --format does not say."""
DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".pfm")
"""Depth files, in the order a depth folder is searched for `<stem>.*`."""
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
"""Output suffix (lower case) -> Pillow format name."""


def image_format(path: Path) -> str:
    """Pillow's format name for an output path, from its suffix.

    Raises:
        OutputError: the suffix is not one of .jpg/.jpeg, .png, .tif/.tiff, .webp.

    >>> image_format(Path("out.JPG"))
    'JPEG'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(path, f"unknown image format '{suffix}' (use .jpg, .png, .tif or .webp)")
    return FORMATS[suffix]
