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
import logging
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

from refocus_cli.errors import InputError, missing_or_unreadable
from refocus_cli.io.exif_bytes import ORIENTATION as _ORIENTATION
from refocus_cli.io.exif_bytes import TIFF_LAYOUT_TAGS as _TIFF_LAYOUT_TAGS
from refocus_cli.io.exif_bytes import exif_with_orientation_1
from refocus_cli.io.exif_fields import CAMERA_TAGS as CAMERA_TAGS  # re-exported: the tags LoadedImage keeps
from refocus_cli.io.exif_fields import PARSE_ERRORS as EXIF_PARSE_ERRORS
from refocus_cli.io.exif_fields import read_exif_fields
from refocus_cli.io.image_writer import (  # re-exported: readers and writers of stills import them from here
    SIXTEEN_BIT_FORMATS as SIXTEEN_BIT_FORMATS,
)
from refocus_cli.io.image_writer import encode_srgb as encode_srgb
from refocus_cli.io.image_writer import output_bit_depth as output_bit_depth
from refocus_cli.io.image_writer import png16_bytes as png16_bytes
from refocus_cli.io.image_writer import tiff_bytes as tiff_bytes
from refocus_cli.io.image_writer import write_codes as write_codes
from refocus_cli.io.image_writer import write_image as write_image
from refocus_cli.io.srgb_tables import codes_to_linear as pixels_to_linear  # [H,W,3] codes -> [1,3,H,W] linear

logging.getLogger("PIL").addHandler(logging.NullHandler())
# Pillow logs what it refuses in a malformed file (`logger.error`) before raising; without a handler Python would
# print that to stderr beside the one line its error becomes.

MAX_PIXELS = 178_956_970
"""Largest image we decode (width * height): Pillow's hard decompression-bomb limit at its default settings."""


HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif"})
"""Input suffixes (lower case) read through pillow-heif, whose Pillow opener is registered on first use."""

_EXIF_IFD = 0x8769
_EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
_SIXTEEN_BIT_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


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
        notes: one line per EXIF field ignored as malformed (see `io.exif_fields`), each naming the file.
    """

    path: Path
    linear: torch.Tensor
    bit_depth: int
    exif: bytes | None = None
    icc_profile: bytes | None = None
    camera_tags: dict[str, float] = field(default_factory=dict)
    format: str = ""
    software: str = ""
    notes: tuple[str, ...] = ()

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
def open_image(path: Path, *, max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """Open `path` with Pillow and decode it fully, turning every failure into an `InputError`.

    `max_pixels` (width * height, at most `MAX_PIXELS`) is checked from the header, before decoding.

    Raises:
        InputError: "no such file", "is a folder", "permission denied", "not an image (or a format we cannot
            read)", "image has N pixels, over the limit of M", "corrupt or truncated image".
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder")
    with warnings.catch_warnings():
        # Pillow warns from half its hard limit (ours is MAX_PIXELS, checked below), and about malformed
        # metadata it skips (`read_exif_fields` notes what matters).
        warnings.simplefilter("ignore")
        img = _open_or_raise(path)
    with img:
        pixels, limit = img.width * img.height, min(max_pixels, MAX_PIXELS)
        if pixels > limit:
            raise InputError(path, f"image has {pixels} pixels, over the limit of {limit}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # as above: the tiles' own bomb check, metadata read late
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


def read_image(path: Path, *, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read a still image as linear light, with its EXIF orientation applied and its metadata.

    Modes 1, L, LA, P, PA, RGB, RGBA, CMYK and YCbCr become 8-bit RGB (alpha dropped); 16-bit grey (I;16*, I)
    and 16-bit colour PNG/TIFF stay 16-bit. Grey images become three equal channels.

    Raises:
        InputError: as `open_image` (`max_pixels` is its cap), and "unsupported mode X" for other pixel formats
            (float, LAB, ...).
    """
    loaded, pixels = read_image_codes(path, max_pixels=max_pixels)
    return replace(loaded, linear=pixels_to_linear(pixels, loaded.bit_depth))


def read_image_codes(path: Path, *, max_pixels: int = MAX_PIXELS) -> tuple[LoadedImage, np.ndarray]:
    """`read_image` without linear light, for images too large to hold in it (12 bytes a pixel): the image as
    read, its `linear` only a shape (a tensor on the "meta" device, no pixels), and its [H,W,3] uint8 or uint16
    sRGB samples with the EXIF orientation applied (3 or 6 bytes a pixel), for `pixels_to_linear` a tile at a time.

    Raises:
        InputError: as `read_image`.
    """
    path = Path(path)
    with open_image(path, max_pixels=max_pixels) as img:
        pixels, bit_depth = _decode_pixels(path, img)
        fields = read_exif_fields(path, img)  # a malformed field is ignored, with a note
        pixels = orient(pixels, fields.orientation)
        loaded = LoadedImage(
            path=path,
            linear=torch.empty((1, 3, *pixels.shape[:2]), device="meta"),
            bit_depth=bit_depth,
            exif=_exif_for_output(img),
            icc_profile=_rgb_icc_profile(img.info.get("icc_profile")),
            camera_tags=fields.camera_tags,
            format=str(img.format or ""),
            software=fields.software,
            notes=fields.notes,
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


def _exif_for_output(img: Image.Image) -> bytes | None:
    """Raw EXIF to write back, Orientation set to 1; None when the image has none (or it is malformed)."""
    raw = img.info.get("exif")
    if isinstance(raw, bytes) and raw:
        return exif_with_orientation_1(raw)
    if img.format != "TIFF":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read_exif_fields has noted what is malformed
        try:
            exif = img.getexif()  # a TIFF's EXIF is its own IFD0: keep the descriptive tags only
            exif.get_ifd(_EXIF_IFD)  # loaded sub-IFDs are written by tobytes()
            for tag in _TIFF_LAYOUT_TAGS & set(exif):
                del exif[tag]
            if _ORIENTATION in exif:
                exif[_ORIENTATION] = 1
            return exif.tobytes() if len(exif) else None
        except EXIF_PARSE_ERRORS:
            return None


def _rgb_icc_profile(profile: object) -> bytes | None:
    """The ICC profile if it describes RGB data (header bytes 16-19), else None."""
    if isinstance(profile, bytes) and len(profile) >= 128 and profile[16:20] == b"RGB ":
        return profile
    return None


def jpeg_round_trip(linear: torch.Tensor, quality: int = 90) -> torch.Tensor:
    """[1,3,H,W] linear light -> the same after 8-bit sRGB JPEG encoding at `quality` and decoding, as a photo
    that went through a camera's JPEG would be (for tests and benchmarks of real-photo robustness).

    >>> jpeg_round_trip(torch.full((1, 3, 8, 8), 0.25)).shape
    torch.Size([1, 3, 8, 8])
    """
    import io

    buffer = io.BytesIO()
    Image.fromarray(encode_srgb(linear.clamp(0, 1), 8)).save(buffer, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return pixels_to_linear(np.asarray(decoded.convert("RGB")), 8)
