"""Depth embedded in the photo itself, in the formats phones write."""

from __future__ import annotations

from pathlib import Path

from refocus_cli.depth.dynamic_depth import dynamic_depth
from refocus_cli.depth.gdepth import gdepth_depth
from refocus_cli.depth.heic import heic_depth
from refocus_cli.depth.mpf import mpf_depth
from refocus_cli.depth.xmp import read_xmp
from refocus_cli.io.depth_files import DepthMap

EMBEDDED_FORMATS = "Dynamic Depth, GDepth XMP, HEIC depth image or MPF depth image"


def read_embedded_depth(path: Path, size_hw: tuple[int, int]) -> DepthMap | None:
    """Depth embedded in a photo (Android Dynamic Depth, Google GDepth, Apple's HEIC depth image, then an MPF
    JPEG's depth image), resized to it; None if none.

    The XMP is read once and offered to each format in turn.

    Raises:
        InputError: a format is there but malformed, hostile or over the size caps (one line).
    """
    xmp = read_xmp(path)
    for reader in (dynamic_depth, gdepth_depth, heic_depth, mpf_depth):
        found = reader(path, xmp, size_hw)
        if found is not None:
            return found
    return None
