"""Still images: sRGB files (8 or 16 bit) <-> linear-light tensors, with their metadata.

Reading decodes sRGB to linear light, applies the EXIF orientation and keeps what the output needs: bit depth,
EXIF (its Orientation reset to 1, since the pixels are already turned), ICC profile and the camera settings the
lens model reads. Every failure is an `InputError` naming the file. Writing encodes sRGB, rounds to the file's
bit depth and writes atomically.

Pillow decodes colour images of 16 bits per sample to 8 bits, so 16-bit colour PNG and TIFF are decoded with
PyAV (FFmpeg) and 16-bit PNG and all TIFF are written by the small encoders at the end of this module (Pillow's
TIFF writer refuses EXIF that has an Exif IFD); Pillow still reads all metadata.

Colour management: pixel values are taken as sRGB-encoded whatever the ICC profile says; the profile is written
back unchanged, so wide-gamut photos (Display P3 shares sRGB's transfer curve) keep their primaries.
"""

from __future__ import annotations

import functools
import math
import numbers
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from refocus_cli.colour import linear_to_srgb, srgb_to_linear
from refocus_cli.errors import InputError, OutputError, missing_or_unreadable
from refocus_cli.io.atomic import atomic_output

MAX_PIXELS = 178_956_970
"""Largest image we decode (width * height): Pillow's hard decompression-bomb limit at its default settings."""

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
"""Output suffix (lower case) -> Pillow format name."""

SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})

HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif"})
"""Input suffixes (lower case) read through pillow-heif, whose Pillow opener is registered on first use."""

CAMERA_TAGS = {
    0x829D: "FNumber",
    0x920A: "FocalLength",
    0xA405: "FocalLengthIn35mmFilm",
    0x9206: "SubjectDistance",
}
"""EXIF tag id -> standard name, for the tags `LoadedImage.camera_tags` collects."""

_EXIF_PREFIX = b"Exif\x00\x00"
_PNG_STRIP_ROWS = 256
_EXIF_IFD = 0x8769
_ORIENTATION = 0x0112
_SOFTWARE = 0x0131
_ICC_TAG = 34675
_EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
_SIXTEEN_BIT_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# Baseline TIFF tags that describe the pixel data of the file they sit in: never copied from one file to another.
_TIFF_LAYOUT_TAGS = frozenset(
    {254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 338, 339, 513, 514}
    | {530, 531, 532, _ICC_TAG}
)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and the metadata its output keeps.

    Attributes:
        path: the file read.
        linear: [1,3,H,W] float32 linear light in [0, 1], EXIF orientation applied (H, W as displayed).
        bit_depth: 8 or 16, the file's bits per sample (what the output keeps where its format allows).
        exif: raw EXIF ("Exif\\0\\0" + TIFF structure) with Orientation set to 1, or None.
        icc_profile: the embedded RGB ICC profile, or None (profiles of CMYK or grey sources are dropped).
        camera_tags: finite positive EXIF numbers by standard name: FNumber, FocalLength (mm),
            FocalLengthIn35mmFilm (mm), SubjectDistance (m); absent tags are absent.
        format: Pillow's name of the file format ("JPEG", "PNG", "TIFF", "WEBP", "MPO", "HEIF", ...).
        software: EXIF Software, the program that made the file ("" when absent).
    """

    path: Path
    linear: torch.Tensor
    bit_depth: int
    exif: bytes | None = None
    icc_profile: bytes | None = None
    camera_tags: dict[str, float] = field(default_factory=dict)
    format: str = ""
    software: str = ""

    @property
    def height(self) -> int:
        """Height in pixels, as displayed."""
        return int(self.linear.shape[-2])

    @property
    def width(self) -> int:
        """Width in pixels, as displayed."""
        return int(self.linear.shape[-1])


# ----------------------------------------------------------------------------------------------------- reading


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """Open `path` with Pillow and decode it fully, turning every failure into an `InputError`.

    Raises:
        InputError: "no such file", "is a folder", "permission denied", "not an image (or a format we cannot
            read)", "image has N pixels, over the limit of M", "corrupt or truncated image".
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder")
    with warnings.catch_warnings():
        # Pillow warns from half its hard limit; ours is MAX_PIXELS, checked below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = _open_or_raise(path)
    with img:
        pixels = img.width * img.height
        if pixels > MAX_PIXELS:
            raise InputError(path, f"image has {pixels} pixels, over the limit of {MAX_PIXELS}")
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
            raise InputError(path, "corrupt or truncated image") from exc
        yield img


def _open_or_raise(path: Path) -> Image.Image:
    """`Image.open` with its failures as `InputError`s."""
    if path.suffix.lower() in HEIF_SUFFIXES:
        _register_heif_opener()
    try:
        return Image.open(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, str(exc)) from exc
    except Image.DecompressionBombError as exc:
        raise InputError(path, _bomb_problem(exc)) from exc
    except UnidentifiedImageError as exc:
        raise InputError(path, "not an image (or a format we cannot read)") from exc
    except OSError as exc:
        if exc.errno is None:  # Pillow's own parse errors ("Truncated File Read", broken headers)
            raise InputError(path, f"corrupt or truncated image ({exc})") from exc
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from exc


@functools.cache
def _register_heif_opener() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif), once, and only when such a file is opened: start-up stays light.

    pillow-heif applies the HEIF transformations (`irot`, `imir`) while decoding and sets the EXIF Orientation it
    hands to Pillow to 1, so `read_image` does not turn the pixels twice.
    """
    from pillow_heif import register_heif_opener  # heavy: only for HEIF files

    register_heif_opener()


def _bomb_problem(exc: Exception) -> str:
    """The problem line for Pillow's own decompression-bomb error (its limit was lowered below ours)."""
    numbers = [int(word) for word in str(exc).replace("(", " ").split() if word.isdigit()]
    if len(numbers) >= 2:
        return f"image has {numbers[0]} pixels, over the limit of {numbers[1]}"
    return "image is too large to decode safely"


def read_image(path: Path) -> LoadedImage:
    """Read a still image as linear light, with its EXIF orientation applied and its metadata.

    Modes 1, L, LA, P, PA, RGB, RGBA, CMYK and YCbCr become 8-bit RGB (alpha dropped); 16-bit grey (I;16*, I)
    and 16-bit colour PNG/TIFF stay 16-bit. Grey images become three equal channels.

    Raises:
        InputError: as `open_image`, and "unsupported mode X" for other pixel formats (float, LAB, ...).
    """
    loaded, pixels = read_image_codes(path)
    return replace(loaded, linear=pixels_to_linear(pixels, loaded.bit_depth))


def read_image_codes(path: Path) -> tuple[LoadedImage, np.ndarray]:
    """`read_image` without linear light, for images too large to hold in it (12 bytes a pixel): the image as
    read, its `linear` only a shape (a tensor on the "meta" device, no pixels), and its [H,W,3] uint8 or uint16
    sRGB samples with the EXIF orientation applied (3 or 6 bytes a pixel), for `pixels_to_linear` a tile at a time.

    Raises:
        InputError: as `read_image`.
    """
    path = Path(path)
    with open_image(path) as img:
        pixels, bit_depth = _decode_pixels(path, img)
        exif = img.getexif()
        pixels = orient(pixels, int(exif.get(_ORIENTATION, 1) or 1))
        loaded = LoadedImage(
            path=path,
            linear=torch.empty((1, 3, *pixels.shape[:2]), device="meta"),
            bit_depth=bit_depth,
            exif=_exif_for_output(img),
            icc_profile=_rgb_icc_profile(img.info.get("icc_profile")),
            camera_tags=_camera_tags(exif),
            format=str(img.format or ""),
            software=str(exif.get(_SOFTWARE, "") or "").strip("\x00 "),
        )
        return loaded, pixels


def _decode_pixels(path: Path, img: Image.Image) -> tuple[np.ndarray, int]:
    """[H,W,3] uint8 or uint16 samples as stored (orientation not applied), and the bit depth."""
    if img.mode in _SIXTEEN_BIT_GREY_MODES:
        grey = np.asarray(img).astype(np.int64).clip(0, 65535).astype(np.uint16)
        return np.repeat(grey[:, :, None], 3, axis=2), 16
    if img.mode not in _EIGHT_BIT_MODES:
        raise InputError(path, f"unsupported mode {img.mode}")
    if stored_bits(path, img) == 16:
        wide = _decode_rgb48(path)
        if wide is not None and wide.shape[:2] == (img.height, img.width):
            return wide, 16
    if "transparency" in img.info:  # palette or colour-key transparency: through RGBA, or Pillow warns
        img = img.convert("RGBA")
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB")), 8  # no copy of an RGB image's pixels


def stored_bits(path: Path, img: Image.Image) -> int:
    """Bits per sample as stored in a PNG or TIFF file (8 for other formats)."""
    if img.format == "TIFF":
        bits = getattr(img, "tag_v2", {}).get(258, (8,))
        return max(bits) if isinstance(bits, tuple) else int(bits)
    if img.format == "PNG":
        with path.open("rb") as file:
            header = file.read(26)  # signature (8), IHDR length and type (8), width, height, bit depth
        return header[24] if len(header) == 26 else 8
    return 8


def _decode_rgb48(path: Path) -> np.ndarray | None:
    """[H,W,3] uint16 samples of a 16-bit PNG or TIFF, decoded by FFmpeg; None if it cannot."""
    import av  # heavy: only for 16-bit colour files

    try:
        with path.open("rb") as file, av.open(file, mode="r") as container:
            frame = next(container.decode(video=0))
            return np.asarray(frame.to_ndarray(format="rgb48le"), dtype=np.uint16)
    except (av.FFmpegError, StopIteration, ValueError, OSError):
        return None


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn [H,W,...] stored pixels as EXIF `orientation` (1-8) says, the same as `ImageOps.exif_transpose`.

    Values outside 1-8 leave the pixels as they are.
    """
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }.get(orientation, lambda a: a)(pixels)
    return np.ascontiguousarray(turned)


def pixels_to_linear(pixels: np.ndarray, bit_depth: int) -> torch.Tensor:
    """[H,W,3] integer sRGB samples -> [1,3,H,W] float32 linear light, by table look-up (the same values as
    `srgb_to_linear(code / (2**bit_depth - 1))`, about four times faster than computing them per pixel)."""
    codes = torch.from_numpy(np.ascontiguousarray(pixels).astype(np.int64 if bit_depth == 16 else np.uint8))
    return _linear_table(bit_depth)[codes.long()].permute(2, 0, 1).unsqueeze(0).contiguous()


@functools.cache
def _linear_table(bit_depth: int) -> torch.Tensor:
    """Linear light of every `bit_depth`-bit sRGB code: [2**bit_depth] float32."""
    return srgb_to_linear(torch.arange(2**bit_depth, dtype=torch.float32) / float(2**bit_depth - 1))


def _exif_for_output(img: Image.Image) -> bytes | None:
    """Raw EXIF to write back, Orientation set to 1; None when the image has none (or it is malformed)."""
    raw = img.info.get("exif")
    if isinstance(raw, bytes) and raw:
        return exif_with_orientation_1(raw)
    if img.format != "TIFF":
        return None
    exif = img.getexif()  # a TIFF's EXIF is its own IFD0: keep the descriptive tags only
    exif.get_ifd(_EXIF_IFD)  # loaded sub-IFDs are written by tobytes()
    for tag in _TIFF_LAYOUT_TAGS & set(exif):
        del exif[tag]
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return exif.tobytes() if len(exif) else None


def exif_with_orientation_1(raw: bytes) -> bytes | None:
    """Raw EXIF, with or without its "Exif\\0\\0" prefix -> the same bytes, prefixed, IFD0 Orientation 1.

    The bytes are patched in place (nothing moves, so maker-note offsets stay valid). None if malformed.
    """
    body = raw[len(_EXIF_PREFIX) :] if raw.startswith(_EXIF_PREFIX) else raw
    try:
        order, entries = _ifd0_entries(body)
    except (ValueError, struct.error):
        return None
    patched = bytearray(body)
    for position, tag, kind in entries:
        if tag == _ORIENTATION and kind == 3:  # SHORT
            struct.pack_into(order + "H", patched, position + 8, 1)
    return _EXIF_PREFIX + bytes(patched)


def _ifd0_entries(tiff: bytes) -> tuple[str, list[tuple[int, int, int]]]:
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


def _rgb_icc_profile(profile: object) -> bytes | None:
    """The ICC profile if it describes RGB data (header bytes 16-19), else None."""
    if isinstance(profile, bytes) and len(profile) >= 128 and profile[16:20] == b"RGB ":
        return profile
    return None


def _camera_tags(exif: Image.Exif) -> dict[str, float]:
    """`CAMERA_TAGS` found in the Exif IFD (or IFD0), as finite positive floats."""
    sub_ifd = exif.get_ifd(_EXIF_IFD)
    tags: dict[str, float] = {}
    for tag, name in CAMERA_TAGS.items():
        value = sub_ifd.get(tag, exif.get(tag))
        if not isinstance(value, numbers.Real):
            continue
        try:
            number = float(value)
        except ZeroDivisionError:
            continue
        if math.isfinite(number) and number > 0:
            tags[name] = number
    return tags


# ----------------------------------------------------------------------------------------------------- writing


def image_format(path: Path) -> str:
    """Pillow's format name for an output path, from its suffix.

    Raises:
        OutputError: the suffix is not one of .jpg/.jpeg, .png, .tif/.tiff, .webp.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(path, f"unknown image format '{suffix}' (use .jpg, .png, .tif or .webp)")
    return FORMATS[suffix]


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
    linear = torch.nan_to_num(linear.detach().to("cpu", torch.float32), nan=0.0)
    codes = (linear_to_srgb(linear) * float(2**bit_depth - 1)).round().to(torch.int32)
    return np.ascontiguousarray(codes.permute(1, 2, 0).numpy(), np.uint16 if bit_depth == 16 else np.uint8)


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
        body = exif[len(_EXIF_PREFIX) :] if exif.startswith(_EXIF_PREFIX) else exif
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
        entries[_ICC_TAG] = (7, list(icc_profile))
    _append_ifd0(buffer, order, entries, kept)
    return bytes(buffer)


def _tiff_head(exif: bytes | None) -> tuple[str, bytes, dict[int, bytes]]:
    """Byte order, the bytes the file starts with, and the raw 12-byte IFD0 entries of `exif` to keep."""
    body = exif[len(_EXIF_PREFIX) :] if exif and exif.startswith(_EXIF_PREFIX) else exif
    if body:
        try:
            order, entries = _ifd0_entries(body)
        except (ValueError, struct.error):
            pass
        else:
            kept = {tag: body[pos : pos + 12] for pos, tag, _ in entries if tag not in _TIFF_LAYOUT_TAGS}
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
