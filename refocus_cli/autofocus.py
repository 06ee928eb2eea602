"""Auto-focus: where to focus when the user does not say.

First what the photo says: Google's GFocus focal point (XMP `GFocus:FocalPointX/Y`, fractions of the
frame), then the EXIF SubjectArea (a point, circle or rectangle: its centre) or SubjectLocation, which are in
the stored pixel grid (scaled from PixelX/YDimension when the file was resized, turned as Orientation says).
Then a rule on the depth map: the nearest sizeable region near the centre. Candidate regions are
the connected pieces of the nearest part of the scene (disparity within the top 35% of the range); each is
scored by its mean disparity, the square root of its area and a Gaussian of its centroid's distance from the
frame's centre (sigma 35% of the diagonal), and regions under 0.5% of the frame are ignored as specks. The
focus point is the region's pixel nearest its centroid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from refocus_cli.depth.xmp import read_xmp

GFOCUS = "http://ns.google.com/photos/1.0/focus/"
WORK_SIDE_PX = 256
NEAR_FRACTION = 0.35
MIN_AREA_FRACTION = 0.005
CENTRE_SIGMA = 0.35
EXIF_IFD = 0x8769
SUBJECT_AREA, SUBJECT_LOCATION, PIXEL_X, PIXEL_Y = 0x9214, 0xA214, 0xA002, 0xA003


@dataclass(frozen=True)
class AutoFocus:
    """The chosen focus point (pixels of the photo as displayed) and why it was chosen."""

    point_xy: tuple[float, float]
    rule: str


def focus_from_photo(path: Path, size_hw: tuple[int, int]) -> AutoFocus | None:
    """The focal point the camera recorded (GFocus XMP, else EXIF SubjectArea/SubjectLocation), or None."""
    return _gfocus_point(path, size_hw) or _exif_subject_point(path, size_hw)


def _gfocus_point(path: Path, size_hw: tuple[int, int]) -> AutoFocus | None:
    xmp = read_xmp(path)
    x_text, y_text = xmp.property(GFOCUS, "FocalPointX"), xmp.property(GFOCUS, "FocalPointY")
    try:
        fx, fy = float(x_text or "nan"), float(y_text or "nan")
    except ValueError:
        return None
    if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
        return None
    h, w = size_hw
    return AutoFocus((min(fx * w, w - 1.0), min(fy * h, h - 1.0)), "photo: GFocus focal point")


def _exif_subject_point(path: Path, size_hw: tuple[int, int]) -> AutoFocus | None:
    """The centre of EXIF SubjectArea (else SubjectLocation) in displayed pixels; None when absent or odd."""
    import warnings

    from PIL import Image

    from refocus_cli.io.exif_fields import photo_orientation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed metadata: `read_image` has noted what matters
        try:
            with Image.open(path) as img:  # reads the header only
                exif = img.getexif()
                stored_w, stored_h = img.size
                sub_ifd = exif.get_ifd(EXIF_IFD)
                orientation = photo_orientation(path, img)  # the orientation `read_image` applied
        except Exception:  # unreadable metadata is no focal point; the pixels are read (and judged) elsewhere
            return None
    for tag, name in ((SUBJECT_AREA, "SubjectArea"), (SUBJECT_LOCATION, "SubjectLocation")):
        values = _numbers(sub_ifd.get(tag))
        if values is None or len(values) not in (2, 3, 4):
            continue
        exif_w, exif_h = _numbers(sub_ifd.get(PIXEL_X)), _numbers(sub_ifd.get(PIXEL_Y))
        scale_x = stored_w / exif_w[0] if exif_w and exif_w[0] > 0 else 1.0
        scale_y = stored_h / exif_h[0] if exif_h and exif_h[0] > 0 else 1.0
        x, y = values[0] * scale_x, values[1] * scale_y
        if not (0 <= x < stored_w and 0 <= y < stored_h):
            continue
        x, y = oriented_point(x, y, stored_w, stored_h, orientation)
        h, w = size_hw
        return AutoFocus((min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)), f"photo: EXIF {name}")
    return None


def _numbers(value: object) -> list[float] | None:
    """An EXIF number or tuple of numbers as finite floats, else None."""
    items = value if isinstance(value, tuple) else (value,)
    try:
        numbers = [float(item) for item in items]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return numbers if numbers and all(math.isfinite(n) for n in numbers) else None


def oriented_point(x: float, y: float, stored_w: int, stored_h: int, orientation: int) -> tuple[float, float]:
    """A point of the stored pixel grid in the grid as displayed after EXIF `orientation` (1-8).

    >>> oriented_point(10, 2, 100, 50, 6)  # turned 90 degrees clockwise: the top row becomes the right column
    (47.0, 10.0)
    """
    right, bottom, x, y = stored_w - 1.0, stored_h - 1.0, float(x), float(y)
    return {
        2: (right - x, y),
        3: (right - x, bottom - y),
        4: (x, bottom - y),
        5: (y, x),
        6: (bottom - y, x),
        7: (bottom - y, right - x),
        8: (y, right - x),
    }.get(orientation, (x, y))


def focus_from_depth(disparity: torch.Tensor) -> AutoFocus:
    """The nearest sizeable region near the centre of a disparity map [1,1,H,W] (1 = nearest)."""
    import cv2

    h, w = disparity.shape[-2:]
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    small = F.interpolate(disparity, scale_factor=scale, mode="area") if scale < 1 else disparity
    d = small[0, 0].numpy().astype(np.float32)
    low, high = float(d.min()), float(d.max())
    if high - low < 1e-6:
        return AutoFocus(((w - 1) / 2, (h - 1) / 2), "auto: flat depth, centre of the frame")
    near = (d >= high - NEAR_FRACTION * (high - low)).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(near)
    sh, sw = d.shape
    best, best_score = 0, -math.inf
    for label in range(1, count):
        area = stats[label, cv2.CC_STAT_AREA]
        if area < MIN_AREA_FRACTION * sh * sw:
            continue
        cx, cy = centroids[label]
        offset = math.hypot((cx - sw / 2) / math.hypot(sw, sh), (cy - sh / 2) / math.hypot(sw, sh))
        mean_disparity = float(d[labels == label].mean())
        score = mean_disparity * math.sqrt(area) * math.exp(-(offset**2) / (2 * CENTRE_SIGMA**2))
        if score > best_score:
            best, best_score = label, score
    if best == 0:
        return AutoFocus(((w - 1) / 2, (h - 1) / 2), "auto: no sizeable near region, centre of the frame")
    ys, xs = np.nonzero(labels == best)
    cx, cy = centroids[best]
    nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    point = ((xs[nearest] + 0.5) / scale - 0.5, (ys[nearest] + 0.5) / scale - 0.5)
    point = (min(max(point[0], 0.0), w - 1.0), min(max(point[1], 0.0), h - 1.0))
    return AutoFocus(point, "auto: nearest sizeable region near the centre of the depth map")
