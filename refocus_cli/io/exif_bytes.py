"""EXIF as bytes: find IFD0's entries in a TIFF structure and patch the Orientation in place (nothing moves, so
maker-note offsets stay valid). Shared by the still reader (the EXIF written back) and the still writer."""

from __future__ import annotations

import struct

EXIF_PREFIX = b"Exif\x00\x00"
ORIENTATION = 0x0112
ICC_TAG = 34675
# Baseline TIFF tags that describe the pixel data of the file they sit in: never copied from one file to another.
TIFF_LAYOUT_TAGS = frozenset(
    {254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 338, 339, 513, 514}
    | {530, 531, 532, ICC_TAG}
)


def exif_with_orientation_1(raw: bytes) -> bytes | None:
    """Raw EXIF, with or without its "Exif\\0\\0" prefix -> the same bytes, prefixed, IFD0 Orientation 1.

    The bytes are patched in place (nothing moves, so maker-note offsets stay valid). None if malformed.
    """
    body = raw[len(EXIF_PREFIX) :] if raw.startswith(EXIF_PREFIX) else raw
    try:
        order, entries = ifd0_entries(body)
    except (ValueError, struct.error):
        return None
    patched = bytearray(body)
    for position, tag, _ in entries:
        if tag == ORIENTATION:  # whatever its type and count (a forged one too): one SHORT, 1
            struct.pack_into(order + "HIHH", patched, position + 2, 3, 1, 1, 0)
    return EXIF_PREFIX + bytes(patched)


def ifd0_entries(tiff: bytes) -> tuple[str, list[tuple[int, int, int]]]:
    """Byte order ("<" or ">") of a TIFF structure and its IFD0 entries as (byte offset, tag, type)."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ValueError("not a TIFF header")
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    if ifd + 2 + 12 * count > len(tiff):
        raise ValueError("IFD0 runs past the end")
    entries = []
    for index in range(count):
        position = ifd + 2 + 12 * index
        tag, kind = struct.unpack_from(order + "HH", tiff, position)
        entries.append((position, tag, kind))
    return order, entries
