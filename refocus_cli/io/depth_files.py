"""Depth files given by the user: 8/16-bit images, float TIFF, .npy and .pfm -> disparity in [0, 1].

What a file holds is named by `kind`: "disparity" (larger = nearer, any scale and offset), "depth" (distance,
larger = farther) or "auto", the format's own convention: integer images (PNG, JPEG, 8/16-bit TIFF) and PFM
(Middlebury) hold disparity; float TIFF and .npy hold metric depth in metres.

Disparity files are min-max normalised. Depth z becomes d = (1/z - 1/z_max) / (1/z_min - 1/z_max), which is
invariant to the unit of z; float depth files also keep z as `metric_depth_m` for the physical lens mode
(integer depth images do not: their unit, often millimetres, is unknown). A constant map is one plane: 0.5.
"""

from __future__ import annotations

import math
import os
import re
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.errors import InputError, missing_or_unreadable
from refocus_cli.io.images import MAX_PIXELS, open_image

DEPTH_KINDS = ("auto", "depth", "disparity")
MAX_INVALID_FRACTION = 0.5
"""Maps with this share of NaN/inf values or more are refused rather than filled."""
ASPECT_TOLERANCE = 0.02
"""Relative aspect-ratio difference between depth map and image above which the map is refused."""
GREY_TOLERANCE = 4 / 255
"""Largest channel difference, as a fraction of the value range, that still counts as grey (JPEG noise)."""
SIZE_FACTOR = 4
"""A depth map may hold this many times the photo's pixels (it is resized to the photo)..."""
MIN_VALUE_LIMIT = 4096 * 4096
"""...and always this many values, however small the photo."""
PFM_HEADER_BYTES = 256
"""The most a PFM header (type, width, height, scale) may take."""


@dataclass(frozen=True)
class DepthMap:
    """A depth map read from a file.

    Attributes:
        disparity: [1,1,H,W] float32 in [0, 1], 1 = nearest.
        metric_depth_m: [1,1,H,W] float32 metres when the file holds metric depth, else None.
        source: where it came from, "file:/path/to/map.png".
    """

    disparity: torch.Tensor
    metric_depth_m: torch.Tensor | None
    source: str


def read_depth_file(path: Path, *, kind: str = "auto", size_hw: tuple[int, int] | None = None) -> DepthMap:
    """Read a depth or disparity map, fill its invalid values and resize it to the image.

    Args:
        path: .png/.jpg/... (8/16-bit grey), .tif (integer or float32), .npy (2-D), .pfm.
        kind: "depth", "disparity" or "auto" (see the module docstring).
        size_hw: the image's (height, width); the map is resized to it (bilinear). None keeps its size.

    Raises:
        InputError: unreadable file (as `read_image`), colour image, bad array shape, no or mostly invalid
            values, depth <= 0, aspect ratio differing from the image's by more than 2%.
        ValueError: unknown `kind`.
    """
    if kind not in DEPTH_KINDS:
        raise ValueError(f"kind must be one of {DEPTH_KINDS}, got {kind!r}")
    path = Path(path)
    values, is_float = _read_values(path, max_values(size_hw))  # [H,W] float64, may hold NaN/inf
    if size_hw is not None:
        _check_aspect(path, values.shape, size_hw)
    values = _fill_invalid(path, values)
    is_depth = kind == "depth" or (kind == "auto" and is_float and path.suffix.lower() != ".pfm")
    if is_depth:
        disparity = _depth_to_disparity(path, values)
        metric = torch.from_numpy(values).float()[None, None] if is_float else None
    else:
        disparity, metric = _normalise(values), None
    disparity_t = torch.from_numpy(disparity).float()[None, None]
    if size_hw is not None:
        disparity_t = _resize(disparity_t, size_hw).clamp_(0.0, 1.0)  # in place: no second map in memory
        metric = None if metric is None else _resize(metric, size_hw)
    return DepthMap(disparity=disparity_t, metric_depth_m=metric, source=f"file:{path}")


def max_values(size_hw: tuple[int, int] | None) -> int:
    """The most values a depth map may hold, checked from its header before it is read: `SIZE_FACTOR` times the
    photo's pixels, at least `MIN_VALUE_LIMIT`, at most `MAX_PIXELS` (also the limit when the size is unknown).

    >>> max_values((3000, 4000)), max_values((1, 1)), max_values(None)
    (48000000, 16777216, 178956970)
    """
    if size_hw is None:
        return MAX_PIXELS
    return min(MAX_PIXELS, max(SIZE_FACTOR * size_hw[0] * size_hw[1], MIN_VALUE_LIMIT))


def _read_values(path: Path, limit: int) -> tuple[np.ndarray, bool]:
    """[H,W] float64 values of the file and whether it stores floats; at most `limit` values."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path, limit)
    if suffix == ".pfm":
        return _grey(path, read_pfm(path, limit=limit)), True
    with open_image(path, max_pixels=limit) as img:
        return _read_pillow(path, img)


def _read_pillow(path: Path, img: Image.Image) -> tuple[np.ndarray, bool]:
    """Values of a Pillow image: grey modes as they are, colour only if its channels agree."""
    if img.mode in ("F", "I", "L") or img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.float64), img.mode == "F"
    if img.mode == "LA":
        return np.asarray(img.getchannel("L")).astype(np.float64), False
    if img.mode in ("1", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"):
        rgb = img.convert("RGBA" if "transparency" in img.info else "RGB").convert("RGB")
        return _grey(path, np.asarray(rgb).astype(np.float64)), False
    raise InputError(path, f"unsupported mode {img.mode}")


def _grey(path: Path, values: np.ndarray) -> np.ndarray:
    """[H,W] or [H,W,C] values -> [H,W], the channel mean; refuse channels that differ (a colour image)."""
    if values.ndim == 2 or values.shape[2] == 1:
        return values.reshape(values.shape[0], values.shape[1])
    finite = values[np.isfinite(values).all(axis=2)]
    value_range = float(np.ptp(finite)) if finite.size else 0.0
    if finite.size and float(np.ptp(finite, axis=1).max()) > GREY_TOLERANCE * max(value_range, 1e-12):
        raise InputError(
            path,
            "depth map has colour channels that differ; expected a single-channel depth or disparity map",
        )
    return values.mean(axis=2)


def _read_npy(path: Path, limit: int) -> tuple[np.ndarray, bool]:
    """A 2-D (or [1,H,W] / [H,W,1]) numeric .npy array as [H,W] float64, at most `limit` values.

    The header is read and checked first (numbers, not objects: nothing is unpickled; the shape; the data size
    against the file's and against `limit`), so nothing is allocated for a forged one.
    """
    if path.is_dir():
        raise InputError(path, "is a folder")
    try:
        with path.open("rb") as file:
            shape, fortran_order, dtype = _npy_header(path, file)
            count = _checked_npy_values(path, shape, dtype, limit)
            size = count * dtype.itemsize
            left = os.fstat(file.fileno()).st_size - file.tell()
            if left != size:
                raise InputError(
                    path, f"corrupt or truncated .npy file: its header declares {size} bytes of data, it holds {left}"
                )
            data = file.read(size)
    except (FileNotFoundError, PermissionError) as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, str(exc)) from exc
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from exc
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order="F" if fortran_order else "C")
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else array[:, :, 0]
    return array.astype(np.float64), True


def _npy_header(path: Path, file: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from the header of an open .npy file, which is left at the data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about headers written by Python 2
            version = np.lib.format.read_magic(file)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(file)
            if version == (2, 0):
                return np.lib.format.read_array_header_2_0(file)
    except (ValueError, SyntaxError, TypeError, EOFError, OverflowError, RecursionError, tokenize.TokenError) as exc:
        raise InputError(path, "not a NumPy .npy array (or a corrupt one)") from exc
    raise InputError(path, f"not a NumPy .npy array we read (format version {version[0]}.{version[1]})")


def _checked_npy_values(path: Path, shape: tuple[int, ...], dtype: np.dtype, limit: int) -> int:
    """The number of values a .npy header declares, once its type and shape are those of a depth map."""
    if dtype.hasobject:
        raise InputError(path, "not a NumPy .npy array of numbers: it holds Python objects, which are never unpickled")
    if not (np.issubdtype(dtype, np.number) and dtype.kind != "c"):
        raise InputError(path, "not a numeric NumPy array")
    squeezable = len(shape) == 3 and 1 in (shape[0], shape[2])
    if len(shape) != 2 and not squeezable:
        raise InputError(path, f"depth array has shape {tuple(shape)}; expected HxW, 1xHxW or HxWx1")
    if min(shape) <= 0:
        raise InputError(path, f"depth array has shape {tuple(shape)}: it is empty")
    count = math.prod(shape)
    if count > limit:
        raise InputError(path, f"depth array has {count} values, over the limit of {limit}")
    return count


_PFM_HEADER = re.compile(rb"(P[Ff])\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s")


def read_pfm(path: Path, *, limit: int = MAX_PIXELS) -> np.ndarray:
    """A PFM file as [H,W] ("Pf") or [H,W,3] ("PF") float64 values, top row first; at most `limit` pixels.

    PFM: header "PF" (colour) or "Pf" (grey), width and height, then a scale whose sign gives the byte order
    (negative = little-endian), each followed by white space; then float32 rows from bottom to top. The header
    is checked (sizes, scale, the data the file holds) before the data is read.
    """
    try:
        with path.open("rb") as file:
            head = file.read(PFM_HEADER_BYTES)
            header = _PFM_HEADER.match(head)
            if header is None:
                raise InputError(path, "not a PFM file (its header is not 'PF' or 'Pf', width, height, scale)")
            channels = 3 if header.group(1) == b"PF" else 1
            width, height, scale = int(header.group(2)), int(header.group(3)), _pfm_scale(header.group(4))
            if width == 0 or height == 0:
                raise InputError(path, f"PFM image is {width}x{height}: it is empty")
            if width * height > limit:
                raise InputError(path, f"PFM image has {width * height} pixels, over the limit of {limit}")
            count = width * height * channels
            if not math.isfinite(scale) or scale == 0 or os.fstat(file.fileno()).st_size - header.end() < 4 * count:
                raise InputError(path, "corrupt or truncated PFM file")
            file.seek(header.end())
            data = file.read(4 * count)
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, f"cannot read ({exc.strerror or exc})") from exc
    floats = np.frombuffer(data, dtype="<f4" if scale < 0 else ">f4", count=count)
    rows = floats.reshape(height, width, channels)[::-1]
    return rows[:, :, 0].astype(np.float64) if channels == 1 else rows.astype(np.float64)


def _pfm_scale(text: bytes) -> float:
    """The PFM scale (NaN when it is not a number: "-", "1e", "1.2.3")."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _fill_invalid(path: Path, values: np.ndarray) -> np.ndarray:
    """Replace NaN/inf values from their valid surroundings; refuse maps with too few valid values."""
    valid = np.isfinite(values)
    if valid.all():
        return values
    if values.size == 0 or not valid.any():
        raise InputError(path, "depth map has no valid values")
    invalid_fraction = 1.0 - float(valid.mean())
    if invalid_fraction >= MAX_INVALID_FRACTION:
        raise InputError(path, f"depth map is mostly invalid ({invalid_fraction:.0%} of values are NaN or infinite)")
    filled = fill_holes(torch.from_numpy(np.where(valid, values, 0.0))[None, None], torch.from_numpy(valid)[None, None])
    return np.where(valid, values, filled[0, 0].numpy())


def fill_holes(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Fill invalid pixels from valid ones around them, through a pyramid of valid-weighted means.

    Args:
        values: [N,C,H,W] values; anything where invalid.
        valid: [N,1,H,W] bool; every image needs one valid pixel at least.

    Returns:
        [N,C,H,W]: valid pixels unchanged, each hole the mean of the valid values at the finest pyramid level
        that reaches it (a hole inside a constant region takes that constant).

    >>> fill_holes(torch.tensor([[[[1.0, 0.0, 0.0, 3.0]]]]), torch.tensor([[[[True, False, False, True]]]])).tolist()
    [[[[1.0, 1.0, 3.0, 3.0]]]]
    """
    if bool(valid.all()) or values.shape[-2:] == (1, 1):
        return values
    kernel = (2 if values.shape[-2] > 1 else 1, 2 if values.shape[-1] > 1 else 1)
    weight = valid.to(values.dtype)
    weight_sum = F.avg_pool2d(weight, kernel, ceil_mode=True)
    value_sum = F.avg_pool2d(values * weight, kernel, ceil_mode=True)
    coarse_valid = weight_sum > 0
    coarse = fill_holes(value_sum / weight_sum.clamp_min(1e-12), coarse_valid)
    upsampled = F.interpolate(coarse, size=values.shape[-2:], mode="nearest")
    return torch.where(valid, values, upsampled)


def _depth_to_disparity(path: Path, depth: np.ndarray) -> np.ndarray:
    """[H,W] depth (> 0, any unit) -> [H,W] disparity in [0, 1]: (1/z - 1/z_max) / (1/z_min - 1/z_max)."""
    if float(depth.min()) <= 0:
        raise InputError(path, "depth map has values <= 0; is it a disparity map? pass --depth-kind disparity")
    return _normalise(1.0 / depth)


def _normalise(values: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1], in place (no second map in memory); a constant map (one plane) becomes 0.5
    everywhere."""
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12 * max(abs(high), 1.0):
        values.fill(0.5)
        return values
    values -= low
    values /= high - low
    return values


def _check_aspect(path: Path, map_hw: tuple[int, ...], image_hw: tuple[int, int]) -> None:
    """Refuse a map whose width/height ratio differs from the image's by more than `ASPECT_TOLERANCE`."""
    (map_h, map_w), (image_h, image_w) = map_hw, image_hw
    if abs((map_w / map_h) / (image_w / image_h) - 1.0) > ASPECT_TOLERANCE:
        raise InputError(
            path, f"depth map is {map_w}x{map_h} but the image is {image_w}x{image_h} (aspect ratios differ)"
        )


def _resize(values: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """[1,1,h,w] -> [1,1,H,W], bilinear (align_corners=False); unchanged if the size already matches."""
    if tuple(values.shape[-2:]) == tuple(size_hw):
        return values
    return F.interpolate(values, size=size_hw, mode="bilinear", align_corners=False)
