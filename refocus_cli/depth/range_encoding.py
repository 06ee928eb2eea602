"""Depth maps stored as images of normalised range: the encoding shared by Google's GDepth and the Android
Dynamic Depth format (Google's depthmap metadata reference):

* RangeInverse: depth = Far * Near / (Far - d * (Far - Near))   (d = 0 at Near, 1 at Far)
* RangeLinear:  depth = Near + d * (Far - Near)

with d the image value scaled to [0, 1] and Units "m" (default) or "mm".  Embedded images are untrusted: the
base64 text and the decoded image are checked against size caps before decoding.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.errors import InputError
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.io.images import MAX_PIXELS

MAX_BASE64_CHARS = 64 * 1024 * 1024
"""Largest base64 depth image we decode."""


@dataclass(frozen=True)
class RangeEncoding:
    """How an embedded depth image maps to metres."""

    format: str
    near: float
    far: float
    metres_per_unit: float

    @classmethod
    def from_properties(cls, path: Path, read: Callable[[str], str | None], scheme: str) -> RangeEncoding:
        """Format, Near, Far and Units read by name (`read`), validated; `scheme` names them in errors."""
        fmt = read("Format") or "RangeInverse"
        if fmt not in ("RangeInverse", "RangeLinear"):
            raise InputError(path, f"{scheme} Format {fmt!r} is neither RangeInverse nor RangeLinear")
        near, far = _positive(path, read("Near"), f"{scheme} Near"), _positive(path, read("Far"), f"{scheme} Far")
        if not far > near:
            raise InputError(path, f"{scheme} Far ({far:g}) must be beyond Near ({near:g})")
        units = (read("Units") or "m").lower()
        if units not in ("m", "mm"):
            raise InputError(path, f"{scheme} Units {units!r} is neither m nor mm")
        return cls(fmt, near, far, 0.001 if units == "mm" else 1.0)

    def metres(self, values: np.ndarray) -> np.ndarray:
        """Depth in metres [H,W] from values in [0, 1]."""
        near, far = self.near, self.far
        if self.format == "RangeInverse":
            depth = far * near / (far - values * (far - near))
        else:
            depth = near + values * (far - near)
        return depth * self.metres_per_unit

    def depth_map(self, values: np.ndarray, size_hw: tuple[int, int], source: str) -> DepthMap:
        """Metric depth and normalised disparity, resized to the photo."""
        depth_m = torch.from_numpy(self.metres(values)).float()[None, None]
        depth_m = F.interpolate(depth_m, size=size_hw, mode="bilinear", align_corners=False)
        inverse = 1.0 / depth_m
        span = float(inverse.max() - inverse.min())
        disparity = (inverse - inverse.min()) / span if span > 0 else torch.full_like(inverse, 0.5)
        return DepthMap(disparity=disparity, metric_depth_m=depth_m, source=source)


def decode_base64_image(path: Path, data: str, scheme: str) -> np.ndarray:
    """[H,W] float64 in [0, 1] from base64 image data, checked against the size caps before decoding."""
    if len(data) > MAX_BASE64_CHARS:
        raise InputError(path, f"{scheme} data of {len(data)} characters is over the limit of {MAX_BASE64_CHARS}")
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(path, f"{scheme} data is not valid base64") from exc
    return decode_image_bytes(path, raw, scheme)


def decode_image_bytes(path: Path, raw: bytes, scheme: str) -> np.ndarray:
    """[H,W] float64 in [0, 1] from PNG/JPEG bytes (8 or 16 bit grey), pixel count checked first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the embedded image's own malformed metadata: not ours to report
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.width * image.height > MAX_PIXELS:
                raise InputError(path, f"{scheme} image of {image.width}x{image.height} is over the pixel limit")
            image.load()
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(path, f"{scheme} data is not a readable image ({exc.__class__.__name__})") from exc
    with image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(image, dtype=np.float64) / 65535.0
        return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def _positive(path: Path, text: str | None, name: str) -> float:
    try:
        value = float(text) if text is not None else float("nan")
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(path, f"{name} is missing or not a positive number ({text!r})")
    return value
