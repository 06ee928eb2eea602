"""Depth in Apple's HEIC photos: the auxiliary depth image of the primary image, read with pillow-heif.

An iPhone portrait photo stores its depth as a small greyscale auxiliary image of the primary one (HEIF aux type
`urn:mpeg:hevc:2015:auxid:2`), with the HEVC depth representation information that libheif reports as
`HeifDepthImage.info["metadata"]`: `representation_type` (`pillow_heif.HeifDepthRepresentationType`), and,
where present, `z_near`, `z_far`, `d_min`, `d_max`. With t the sample value scaled to [0, 1]:

* 0 uniform inverse Z: 1/z is linear in t (larger = nearer), so t is a disparity;
* 1 uniform disparity: disparity = d_min + t * (d_max - d_min) (Apple's choice; t alone without d_min/d_max);
* 2 uniform Z: z = z_near + t * (z_far - z_near), turned into a disparity with 1/z;
* 3 non-uniform disparity: a monotonic model of `nonlinear_representation_model_size` segments maps t to
  disparity; pillow-heif does not expose the model, so t is taken as the disparity (the order of depths, and so
  the focus plane, is exact; blur sizes away from it are approximate).

The HEVC depth representation gives no unit for z_near and z_far, so no metric depth is claimed. The result is
min-max normalised (1 = nearest), turned like the photo and resized to it (`disparity_depth_map`, shared with
the MPF reader).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from refocus_cli.depth.xmp import XmpPackets
from refocus_cli.errors import InputError, missing_or_unreadable
from refocus_cli.io.depth_files import ASPECT_TOLERANCE, MAX_INVALID_FRACTION, DepthMap, fill_holes
from refocus_cli.io.images import MAX_PIXELS, orient

SOURCE = "embedded:HEIC"
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
"""ISOBMFF `ftyp` major brands of HEIF files with HEVC images (pillow-heif reads no AVIF here)."""
UNIFORM_INVERSE_Z, UNIFORM_DISPARITY, UNIFORM_Z, NON_UNIFORM_DISPARITY = 0, 1, 2, 3
"""`HeifDepthRepresentationType` values (ISO/IEC 23008-2 depth representation information)."""
_ORIENTATION = 0x0112
_INTEGER_TYPES = {3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}
"""TIFF field types Pillow reads as one integer (SHORT, LONG, SBYTE, SSHORT, SLONG) -> struct codes."""
_HEIF_ERRORS = (OSError, ValueError, SyntaxError, RuntimeError, EOFError)
"""What pillow-heif raises for unreadable, corrupt or unsupported files (see `pillow_heif.open_heif`)."""


class DepthImageLike(Protocol):
    """What is read of a `pillow_heif.HeifDepthImage`: size (width, height), mode ("L", "L;16", ...), info and
    its samples through the NumPy array interface."""

    size: tuple[int, int]
    mode: str
    info: dict[str, Any]


def heic_depth(path: Path, xmp: XmpPackets, size_hw: tuple[int, int]) -> DepthMap | None:
    """The depth image of a HEIC photo's primary image, as disparity resized to the photo; None without one.

    `xmp` (a JPEG's) is not used: HEIC depth is described by the HEIF container itself.

    Raises:
        InputError: the file is a HEIF that libheif cannot read, or its depth image is over the pixel limit,
            of an unknown representation, or of an aspect ratio unlike the photo's (one line).
    """
    if not _is_heif(path):
        return None
    import pillow_heif  # heavy: only for HEIF files

    try:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
        depth_images = [image for image in heif.info.get("depth_images", []) if image is not None]
        exif = heif.info.get("exif")
    except _HEIF_ERRORS as exc:
        problem = " ".join(str(exc).split())  # libheif's message, on one line
        raise InputError(path, f"HEIF file cannot be read ({exc.__class__.__name__}: {problem})") from exc
    if not depth_images:
        return None
    return depth_image_to_map(path, depth_images[0], size_hw, exif_orientation(exif))


def depth_image_to_map(path: Path, depth: DepthImageLike, size_hw: tuple[int, int], orientation: int = 1) -> DepthMap:
    """Convert a HEIF depth image (see the module docstring) to disparity [1,1,H,W] in [0, 1], 1 = nearest.

    Args:
        path: the photo, named in errors.
        depth: a `pillow_heif.HeifDepthImage` (or anything with its size, mode, info and array interface).
        size_hw: the photo's (height, width) as displayed.
        orientation: the photo's EXIF orientation, applied only to a map whose axes are swapped against the photo
            (libheif turns the primary image by its `irot`/`imir` properties, which Apple also writes as EXIF).

    Raises:
        InputError: over the pixel limit, unknown representation, uniform Z without z_near/z_far, undecodable,
            aspect ratio differing from the photo's by more than 2%.
    """
    width, height = depth.size
    if width * height > MAX_PIXELS:
        raise InputError(path, f"HEIC depth image of {width}x{height} is over the pixel limit")
    metadata = depth.info.get("metadata") or {}
    kind = int(metadata.get("representation_type", UNIFORM_DISPARITY))
    if kind not in (UNIFORM_INVERSE_Z, UNIFORM_DISPARITY, UNIFORM_Z, NON_UNIFORM_DISPARITY):
        raise InputError(path, f"HEIC depth image has an unknown representation type {kind}")
    try:
        samples = np.asarray(depth)
    except _HEIF_ERRORS as exc:
        raise InputError(path, f"HEIC depth image cannot be decoded ({exc.__class__.__name__})") from exc
    if samples.ndim == 3:
        samples = samples[:, :, 0]
    bits = int(depth.mode.split(";")[1]) if ";" in depth.mode else 8 * samples.dtype.itemsize
    t = np.clip(samples.astype(np.float64) / float(2**bits - 1), 0.0, 1.0)  # [h,w] in [0, 1]
    d_min, d_max = _number(metadata, "d_min"), _number(metadata, "d_max")
    if kind == UNIFORM_Z:
        disparity = 1.0 / _uniform_z(path, t, metadata)
    elif kind == UNIFORM_DISPARITY and d_min is not None and d_max is not None:
        disparity = d_min + t * (d_max - d_min)
    else:
        disparity = t
    turned = orientation if axes_swapped(disparity.shape, size_hw) else 1
    return disparity_depth_map(path, orient(disparity, turned), size_hw, SOURCE, "HEIC depth image")


def _uniform_z(path: Path, t: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
    """z = z_near + t * (z_far - z_near), both positive and finite."""
    near, far = _number(metadata, "z_near"), _number(metadata, "z_far")
    if near is None or far is None or not (near > 0 and far > 0):
        raise InputError(path, f"HEIC depth image is uniform Z without a positive z_near and z_far ({near}, {far})")
    return near + t * (far - near)


def _number(metadata: dict[str, Any], key: str) -> float | None:
    """A finite number of the depth metadata, or None."""
    value = metadata.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def axes_swapped(map_hw: tuple[int, ...], size_hw: tuple[int, int]) -> bool:
    """Whether a map fits the photo only with its axes swapped (it is stored unturned)."""
    (map_h, map_w), (h, w) = map_hw, size_hw
    straight = abs((map_w / map_h) / (w / h) - 1.0)
    crossed = abs((map_h / map_w) / (w / h) - 1.0)
    return crossed <= ASPECT_TOLERANCE < straight


def _is_heif(path: Path) -> bool:
    """Whether the file starts with an ISOBMFF `ftyp` box of a HEIF brand (major or compatible)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, f"cannot read ({exc.strerror or exc})") from exc
    if head[4:8] != b"ftyp":
        return False
    brands = {head[8:12]} | {head[k : k + 4] for k in range(16, min(len(head), int.from_bytes(head[:4], "big")), 4)}
    return bool(brands & HEIF_BRANDS)


def exif_orientation(exif: bytes | None) -> int:
    """The IFD0 Orientation (1-8) of raw EXIF (with or without "Exif\\0\\0"); 1 when absent or malformed.

    >>> ifd0 = b"MM\\x00*" + bytes([0, 0, 0, 8, 0, 1, 1, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0])
    >>> exif_orientation(b"Exif\\x00\\x00" + ifd0), exif_orientation(b"junk")
    (6, 1)
    """
    if not exif:
        return 1
    tiff = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    if tiff[:4] not in (b"II*\x00", b"MM\x00*") or len(tiff) < 8:
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd) if ifd + 2 <= len(tiff) else (0,)
    for position in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind, values = struct.unpack_from(order + "HHI", tiff, position)
        if tag == _ORIENTATION:  # one integer, of any integer type (as Pillow reads it for the photo), or 1
            code = _INTEGER_TYPES.get(kind)
            if code is None or values != 1:
                return 1
            (value,) = struct.unpack_from(order + code, tiff, position + 8)
            return value if 1 <= value <= 8 else 1
    return 1


def disparity_depth_map(
    path: Path, disparity: np.ndarray, size_hw: tuple[int, int], source: str, scheme: str
) -> DepthMap:
    """An embedded [h,w] disparity (larger = nearer, any scale; NaN/inf invalid) as a DepthMap of the photo.

    The map, already turned like the photo, must have the photo's aspect ratio within `ASPECT_TOLERANCE`; it is
    min-max normalised (a constant map becomes 0.5) and resized bilinearly to `size_hw`. No metric depth.

    Raises:
        InputError: aspect ratio unlike the photo's, or mostly invalid values (`scheme` names the map).
    """
    (map_h, map_w), (h, w) = disparity.shape, size_hw
    if map_h == 0 or map_w == 0 or abs((map_w / map_h) / (w / h) - 1.0) > ASPECT_TOLERANCE:
        raise InputError(path, f"{scheme} is {map_w}x{map_h} but the photo is {w}x{h} (aspect ratios differ)")
    valid = np.isfinite(disparity)
    if not valid.all():
        if 1.0 - float(valid.mean()) >= MAX_INVALID_FRACTION:
            raise InputError(path, f"{scheme} is mostly invalid")
        holes = torch.from_numpy(np.where(valid, disparity, 0.0))[None, None]
        disparity = fill_holes(holes, torch.from_numpy(valid)[None, None])[0, 0].numpy()
    low, high = float(disparity.min()), float(disparity.max())
    if high - low <= 1e-12 * max(abs(high), 1.0):
        normalised = np.full(disparity.shape, 0.5)
    else:
        normalised = (disparity - low) / (high - low)
    values = torch.from_numpy(np.ascontiguousarray(normalised)).float()[None, None]  # [1,1,h,w]
    if tuple(values.shape[-2:]) != tuple(size_hw):
        values = F.interpolate(values, size=size_hw, mode="bilinear", align_corners=False)
    return DepthMap(disparity=values.clamp(0.0, 1.0), metric_depth_m=None, source=source)
