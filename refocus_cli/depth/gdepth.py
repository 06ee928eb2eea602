"""Depth embedded by Google Camera's portrait mode: the GDepth XMP properties (the "depthmap" metadata).

`GDepth:Data` holds a base64 greyscale image (`GDepth:Mime`, PNG or JPEG), usually in the extended XMP.
Its values d in [0, 1] map to depth by `GDepth:Format` with `GDepth:Near` and `GDepth:Far` (Google's
depthmap metadata reference):

* RangeInverse: depth = Far * Near / (Far - d * (Far - Near))   (d = 0 at Near, 1 at Far)
* RangeLinear:  depth = Near + d * (Far - Near)

`GDepth:Units` is "m" (default) or "mm".
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.depth.xmp import read_xmp
from refocus_cli.errors import InputError
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.io.images import MAX_PIXELS

GDEPTH = "http://ns.google.com/photos/1.0/depthmap/"
MAX_BASE64_CHARS = 64 * 1024 * 1024
"""Largest GDepth:Data we decode."""


def read_gdepth(path: Path, size_hw: tuple[int, int]) -> DepthMap | None:
    """The GDepth depth map embedded in a JPEG, resized to the photo; None when the photo has none.

    Raises:
        InputError: the metadata is there but malformed, hostile or over the size caps (one line).
    """
    xmp = read_xmp(path)
    data = xmp.property(GDEPTH, "Data")
    if data is None:
        return None
    values = decode_depth_image(path, data)
    near, far = (
        _positive(path, xmp.property(GDEPTH, "Near"), "Near"),
        _positive(path, xmp.property(GDEPTH, "Far"), "Far"),
    )
    if not far > near:
        raise InputError(path, f"GDepth Far ({far:g}) must be beyond Near ({near:g})")
    depth = depth_from_values(path, values, xmp.property(GDEPTH, "Format") or "RangeInverse", near, far)
    units = (xmp.property(GDEPTH, "Units") or "m").lower()
    if units not in ("m", "mm"):
        raise InputError(path, f"GDepth Units {units!r} is neither m nor mm")
    depth_m = torch.from_numpy(depth / (1000.0 if units == "mm" else 1.0)).float()[None, None]
    depth_m = F.interpolate(depth_m, size=size_hw, mode="bilinear", align_corners=False)
    inverse = 1.0 / depth_m
    span = float(inverse.max() - inverse.min())
    disparity = (inverse - inverse.min()) / span if span > 0 else torch.full_like(inverse, 0.5)
    return DepthMap(disparity=disparity, metric_depth_m=depth_m, source="embedded:GDepth")


def decode_depth_image(path: Path, data: str) -> np.ndarray:
    """[H,W] float64 in [0, 1] from base64 image data, checked against the size caps before decoding."""
    if len(data) > MAX_BASE64_CHARS:
        raise InputError(path, f"GDepth data of {len(data)} characters is over the limit of {MAX_BASE64_CHARS}")
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(path, "GDepth data is not valid base64") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.width * image.height > MAX_PIXELS:
                raise InputError(path, f"GDepth image of {image.width}x{image.height} is over the pixel limit")
            image.load()
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(path, f"GDepth data is not a readable image ({exc.__class__.__name__})") from exc
    with image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(image, dtype=np.float64) / 65535.0
        return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def depth_from_values(path: Path, values: np.ndarray, fmt: str, near: float, far: float) -> np.ndarray:
    """Metric depth [H,W] from normalised values by the GDepth format."""
    if fmt == "RangeInverse":
        return far * near / (far - values * (far - near))
    if fmt == "RangeLinear":
        return near + values * (far - near)
    raise InputError(path, f"GDepth Format {fmt!r} is neither RangeInverse nor RangeLinear")


def _positive(path: Path, text: str | None, name: str) -> float:
    try:
        value = float(text) if text is not None else float("nan")
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(path, f"GDepth {name} is missing or not a positive number ({text!r})")
    return value
