"""Hostile files for the adversarial tests, built byte by byte: EXIF with fields of any type and count (Pillow
writes only well-formed ones), MPF JPEGs with edited indexes, .npy and PNG files whose headers lie.

Each `photo`, `with_file`, `mpf_photo` ... returns a builder: a function that writes its files into a folder.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_HW = (16, 24)
ORIENTATION, SOFTWARE, EXIF_IFD = 0x0112, 0x0131, 0x8769
F_NUMBER, FOCAL_LENGTH, SUBJECT_DISTANCE, FOCAL_35MM = 0x829D, 0x920A, 0x9206, 0xA405
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL, DOUBLE = 1, 2, 3, 4, 5, 7, 10, 12
Entry = tuple[int, int, int, bytes]  # tag, TIFF type, count, value bytes


# ------------------------------------------------------------------------------------------------ raw EXIF


def _ifd(entries: list[Entry], start: int, sub_ifd: list[Entry] | None = None) -> bytes:
    """A little-endian IFD placed at byte `start` of its TIFF structure, values too long for an entry after it."""
    rows: list[tuple[int, int, int, bytes | None]] = [*entries]
    if sub_ifd is not None:
        rows.append((EXIF_IFD, LONG, 1, None))
    rows.sort(key=lambda row: row[0])
    data_at = start + 2 + 12 * len(rows) + 4
    table, tail = b"", b""
    for tag, kind, count, value in rows:
        if value is None:  # the Exif IFD pointer: that IFD goes with the long values
            value = struct.pack("<I", data_at + len(tail))
            tail += _ifd(sub_ifd or [], data_at + len(tail))
        if len(value) > 4:
            table += struct.pack("<HHII", tag, kind, count, data_at + len(tail))
            tail += value + b"\x00" * (len(value) % 2)
        else:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
    return struct.pack("<H", len(rows)) + table + struct.pack("<I", 0) + tail


def raw_exif(ifd0: list[Entry], sub_ifd: list[Entry] | None = None) -> bytes:
    """EXIF bytes as a JPEG's APP1 holds them, with fields of any type and count (Pillow writes only good ones)."""
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + _ifd(ifd0, 8, sub_ifd)


def camera(*entries: Entry) -> bytes:
    """EXIF with a Make in IFD0 and `entries` in the Exif IFD."""
    return raw_exif([(0x010F, ASCII, 4, b"Cam\x00")], list(entries))


def rational(numerator: int, denominator: int, kind: int = RATIONAL) -> bytes:
    return struct.pack("<ii" if kind == SRATIONAL else "<II", numerator, denominator)


def pixels(hw: tuple[int, int] = PHOTO_HW, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)


def photo(exif: bytes | None = None, name: str = "photo.jpg") -> Callable[[Path], None]:
    """A 24x16 JPEG with `exif`, and its depth.png (left half near) and metres.tif (1 m and 2 m)."""

    def build(folder: Path) -> None:
        Image.fromarray(pixels()).save(folder / name, **({"exif": exif} if exif else {}))
        disparity = np.zeros(PHOTO_HW, np.uint8)
        disparity[:, : PHOTO_HW[1] // 2] = 255
        Image.fromarray(disparity).save(folder / "depth.png")
        metres = np.where(disparity > 0, 1.0, 2.0).astype(np.float32)
        Image.fromarray(metres).save(folder / "metres.tif")

    return build


def tiny_photo(hw: tuple[int, int]) -> Callable[[Path], None]:
    """tiny.png, a noise photo of `hw` (height, width) pixels."""
    return lambda folder: Image.fromarray(pixels(hw)).save(folder / "tiny.png")


def with_file(name: str, write: Callable[[Path], None]) -> Callable[[Path], None]:
    """The photo and its depth maps, and one more file made by `write`."""

    def build(folder: Path) -> None:
        photo()(folder)
        write(folder / name)

    return build


# --------------------------------------------------------------------------------------- aperture, npy, pfm


def grey_image(size_wh: tuple[int, int], value: int = 0) -> Callable[[Path], None]:
    return lambda path: Image.new("L", size_wh, value).save(path)


def nan_tiff(path: Path) -> None:
    Image.fromarray(np.full((5, 5), np.nan, np.float32)).save(path)


def npy(header: str, data: bytes) -> Callable[[Path], None]:
    """A .npy file with a hand-written version 1.0 header."""

    def write(path: Path) -> None:
        text = header.encode("latin1")
        text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
        path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data)

    return write


def npy_shape(shape: str, descr: str = "<f8") -> str:
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"


def raw_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def png_header(width: int, height: int) -> bytes:
    """A 16-bit grey PNG that declares `width` x `height` and holds almost no data (never to be decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\x78\x9c\x03\x00") + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------------------ MPF


def mpf_photo(
    *, number: int | None = None, entry_type: int = UNDEFINED, ifd_offset: int = 8, listed_bytes: int | None = None
) -> Callable[[Path], None]:
    """photo.jpg as an MPF JPEG: the photo, then a grey disparity JPEG its MP index lists (edited as asked)."""

    def build(folder: Path) -> None:
        primary, second = io.BytesIO(), io.BytesIO()
        Image.fromarray(pixels()).save(primary, format="JPEG")
        Image.fromarray(np.tile(np.linspace(0, 255, 12, dtype=np.uint8), (8, 1))).save(second, format="JPEG")
        segment_length = 4 + 4 + 8 + 2 + 3 * 12 + 4 + 2 * 16
        first_size = len(primary.getvalue()) + segment_length
        tiff_start = 2 + 4 + 4  # SOI, APP2 marker and length, "MPF\0"
        table = struct.pack("<IIIHH", 0x20030000, first_size, 0, 0, 0)
        table += struct.pack("<IIIHH", 0, len(second.getvalue()), first_size - tiff_start, 0, 0)
        ifd = struct.pack("<H", 3) + struct.pack("<HHI4s", 0xB000, UNDEFINED, 4, b"0100")
        ifd += struct.pack("<HHII", 0xB001, LONG, 1, 2 if number is None else number)
        ifd += struct.pack("<HHII", 0xB002, entry_type, listed_bytes or len(table), 8 + 2 + 36 + 4)
        payload = b"MPF\x00II*\x00" + struct.pack("<I", ifd_offset) + ifd + struct.pack("<I", 0) + table
        segment = b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload
        assert len(segment) == segment_length
        jpeg = primary.getvalue()
        (folder / "photo.jpg").write_bytes(jpeg[:2] + segment + jpeg[2:] + second.getvalue())

    return build


def cut_short(build: Callable[[Path], None], by: int) -> Callable[[Path], None]:
    def cut(folder: Path) -> None:
        build(folder)
        path = folder / "photo.jpg"
        path.write_bytes(path.read_bytes()[:-by])

    return cut
