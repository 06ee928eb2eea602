"""Writing stills: linear light to 8- or 16-bit sRGB, then JPEG, PNG, TIFF or WebP with the source's EXIF and ICC
profile, atomically; 16-bit PNG and TIFF are assembled here (Pillow writes neither with metadata)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.exif_bytes import EXIF_PREFIX, ICC_TAG, TIFF_LAYOUT_TAGS, ifd0_entries
from refocus_cli.io.formats import image_format
from refocus_cli.io.srgb_tables import linear_to_codes

SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
_PNG_STRIP_ROWS = 256


def output_bit_depth(loaded_bit_depth: int, out_path: Path) -> int:
    """Bit depth to write: the input's, where the output format holds it (PNG, TIFF), else 8.

    >>> output_bit_depth(16, Path("a.png")), output_bit_depth(16, Path("a.jpg")), output_bit_depth(8, Path("a.tif"))
    (16, 8, 8)
    """
    holds_16 = image_format(out_path) in SIXTEEN_BIT_FORMATS  # raises for an unknown suffix
    return 16 if loaded_bit_depth == 16 and holds_16 else 8


def write_image(
    path: Path,
    linear: torch.Tensor,
    *,
    bit_depth: int,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    overwrite: bool = False,
    quality: int = 95,
) -> None:
    """Encode [1,3,H,W] (or [3,H,W]) linear light as sRGB and write it atomically.

    The format comes from the suffix. JPEG and WebP hold 8 bits only: 16 is written as 8 there. EXIF and ICC
    profile are kept in every format and depth. `quality` (1-100) applies to JPEG and WebP.

    Raises:
        OutputError: unknown suffix; the file exists and not `overwrite`; its folder is missing; write fails.
        ValueError: `bit_depth` not 8 or 16, or `linear` not one RGB image.
    """
    path = Path(path)
    fmt = image_format(path)
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    depth = bit_depth if fmt in SIXTEEN_BIT_FORMATS else 8
    write_codes(
        path, encode_srgb(linear, depth), exif=exif, icc_profile=icc_profile, overwrite=overwrite, quality=quality
    )


def write_codes(
    path: Path,
    pixels: np.ndarray,
    *,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    overwrite: bool = False,
    quality: int = 95,
) -> None:
    """Write [H,W,3] sRGB samples, uint8 or (PNG and TIFF only) uint16, atomically: `write_image` after encoding.

    Raises:
        OutputError: as `write_image`.
        ValueError: 16-bit samples for a format that holds 8 bits only.
    """
    path = Path(path)
    fmt = image_format(path)
    if pixels.dtype == np.uint16 and fmt not in SIXTEEN_BIT_FORMATS:
        raise ValueError(f"{fmt} holds 8-bit samples only, got uint16")
    with atomic_output(path, overwrite=overwrite) as tmp:
        if pixels.dtype == np.uint16 and fmt == "PNG":
            tmp.write_bytes(png16_bytes(pixels, exif=exif, icc_profile=icc_profile))
        elif fmt == "TIFF":
            tmp.write_bytes(tiff_bytes(pixels, exif=exif, icc_profile=icc_profile))
        else:
            _save_pillow(tmp, pixels, fmt, exif=exif, icc_profile=icc_profile, quality=quality)


def encode_srgb(linear: torch.Tensor, bit_depth: int) -> np.ndarray:
    """[1,3,H,W] or [3,H,W] linear light -> [H,W,3] sRGB codes, uint8 (8 bit) or uint16 (16 bit), rounded.

    NaN becomes 0; values clip to [0, 1] first.
    """
    if linear.dim() == 4 and linear.shape[0] == 1:
        linear = linear[0]
    if linear.dim() != 3 or linear.shape[0] != 3:
        raise ValueError(f"expected one RGB image [1,3,H,W], got shape {tuple(linear.shape)}")
    return linear_to_codes(linear, bit_depth)


def _save_pillow(
    tmp: Path, pixels: np.ndarray, fmt: str, *, exif: bytes | None, icc_profile: bytes | None, quality: int
) -> None:
    """Write [H,W,3] uint8 with Pillow, with EXIF and ICC profile where given."""
    options: dict[str, object] = {}
    if exif:
        options["exif"] = exif
    if icc_profile:
        options["icc_profile"] = icc_profile
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    Image.fromarray(pixels).save(tmp, format=fmt, **options)


def png16_bytes(pixels: np.ndarray, *, exif: bytes | None = None, icc_profile: bytes | None = None) -> bytes:
    """A 16-bit RGB PNG file of [H,W,3] uint16 samples, with eXIf and iCCP chunks where given.

    Every row uses the Sub filter (vectorised); the stream is deflated by zlib, in strips of rows (memory holds
    one strip besides the samples and the compressed bytes).
    """
    height, width, _ = pixels.shape
    deflate = zlib.compressobj(6)
    compressed = []
    for top in range(0, height, _PNG_STRIP_ROWS):
        rows = pixels[top : top + _PNG_STRIP_ROWS].astype(">u2").view(np.uint8).reshape(-1, width * 6)
        filtered = rows.copy()
        filtered[:, 6:] -= rows[:, :-6]  # Sub: each byte minus the same byte of the pixel to its left, mod 256
        scanlines = np.concatenate([np.ones((len(rows), 1), np.uint8), filtered], axis=1)  # filter type 1 per row
        compressed.append(deflate.compress(scanlines.tobytes()))
    compressed.append(deflate.flush())
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))]
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        body = exif[len(EXIF_PREFIX) :] if exif.startswith(EXIF_PREFIX) else exif
        chunks.append(_png_chunk(b"eXIf", body))
    chunks.append(_png_chunk(b"IDAT", b"".join(compressed)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def tiff_bytes(pixels: np.ndarray, *, exif: bytes | None = None, icc_profile: bytes | None = None) -> bytes:
    """An RGB TIFF file of [H,W,3] uint8 or uint16 samples: deflate-compressed strips, ICC profile, EXIF.

    (Pillow's libtiff writer refuses EXIF with an Exif IFD, and it cannot hold 16-bit RGB at all.)

    With EXIF, the file starts with the EXIF's own TIFF structure, so every offset in it stays valid; a new
    IFD0 at the end holds its descriptive entries (Make, Model, the Exif IFD pointer, ...) beside the image's.
    """
    order, head, kept = _tiff_head(exif)
    height, width, _ = pixels.shape
    bits = 8 * pixels.dtype.itemsize
    samples = pixels.astype(f"{order}u{pixels.dtype.itemsize}", order="C", copy=False).reshape(height, width * 3)
    rows_per_strip = max(1, (1 << 20) // samples[0].nbytes)
    buffer = bytearray(head)
    offsets, counts = [], []
    for top in range(0, height, rows_per_strip):
        _pad_to_word(buffer)
        strip = zlib.compress(samples[top : top + rows_per_strip].tobytes(), 6)
        offsets.append(len(buffer))
        counts.append(len(strip))
        buffer += strip
    entries = {
        256: (4, [width]),
        257: (4, [height]),
        258: (3, [bits, bits, bits]),
        259: (3, [8]),  # Adobe deflate
        262: (3, [2]),  # RGB
        273: (4, offsets),
        277: (3, [3]),
        278: (4, [rows_per_strip]),
        279: (4, counts),
        284: (3, [1]),  # chunky
    }
    if icc_profile:
        entries[ICC_TAG] = (7, list(icc_profile))
    _append_ifd0(buffer, order, entries, kept)
    return bytes(buffer)


def _tiff_head(exif: bytes | None) -> tuple[str, bytes, dict[int, bytes]]:
    """Byte order, the bytes the file starts with, and the raw 12-byte IFD0 entries of `exif` to keep."""
    body = exif[len(EXIF_PREFIX) :] if exif and exif.startswith(EXIF_PREFIX) else exif
    if body:
        try:
            order, entries = ifd0_entries(body)
        except (ValueError, struct.error):
            pass
        else:
            kept = {tag: body[pos : pos + 12] for pos, tag, _ in entries if tag not in TIFF_LAYOUT_TAGS}
            return order, body, kept
    return "<", b"II*\x00\x00\x00\x00\x00", {}


def _append_ifd0(
    buffer: bytearray, order: str, entries: dict[int, tuple[int, list[int]]], kept: dict[int, bytes]
) -> None:
    """Append values too long to sit in their entry, then IFD0 itself; point the header at it."""
    size = {3: 2, 4: 4, 7: 1}
    code = {3: "H", 4: "I", 7: "B"}
    raw = dict(kept)
    for tag, (kind, values) in entries.items():
        data = struct.pack(f"{order}{len(values)}{code[kind]}", *values)
        if len(data) > 4:
            _pad_to_word(buffer)
            field_bytes = struct.pack(order + "I", len(buffer))
            buffer += data
        else:
            field_bytes = data.ljust(4, b"\x00")
        raw[tag] = struct.pack(order + "HHI", tag, kind, len(data) // size[kind]) + field_bytes
    _pad_to_word(buffer)
    struct.pack_into(order + "I", buffer, 4, len(buffer))
    buffer += struct.pack(order + "H", len(raw))
    for tag in sorted(raw):
        buffer += raw[tag]
    buffer += struct.pack(order + "I", 0)  # no further IFD (an EXIF thumbnail IFD is dropped)


def _pad_to_word(buffer: bytearray) -> None:
    """TIFF offsets must be even."""
    if len(buffer) % 2:
        buffer += b"\x00"
