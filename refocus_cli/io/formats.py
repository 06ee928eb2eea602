"""Still-image output formats by suffix (no heavy imports: the commands check outputs before any work)."""

from __future__ import annotations

from pathlib import Path

from refocus_cli.errors import OutputError

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
