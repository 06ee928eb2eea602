"""Convert scikit-image's bundled Middlebury `stereo_motorcycle` pair into the README's sample files.

    python examples/make_motorcycle.py

Writes `motorcycle.jpg` (the left view) and `motorcycle-disparity.png` (its ground-truth disparity as a
16-bit PNG, 65535 = nearest).  The ground truth has holes (occlusions, marked inf); each is filled from the
row's nearest valid pixels with the farther of the two, since what stereo cannot see behind an edge is the
background.  Needs scikit-image (the test extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data


def fill_occlusions(disparity: np.ndarray) -> np.ndarray:
    """Replace non-finite disparities by the smaller of the nearest valid values left and right on the row."""
    filled = disparity.astype(np.float64).copy()
    valid = np.isfinite(filled)
    width = filled.shape[1]
    columns = np.arange(width)
    for row, ok in zip(filled, valid, strict=True):
        if ok.all() or not ok.any():
            continue
        left_index = np.maximum.accumulate(np.where(ok, columns, -1))
        right_index = np.minimum.accumulate(np.where(ok, columns, width)[::-1])[::-1]
        left = np.where(left_index >= 0, row[np.clip(left_index, 0, width - 1)], np.inf)
        right = np.where(right_index < width, row[np.clip(right_index, 0, width - 1)], np.inf)
        row[~ok] = np.minimum(left, right)[~ok]
    return filled


def main() -> None:
    left, _right, disparity = data.stereo_motorcycle()
    filled = fill_occlusions(disparity)
    low, high = float(filled.min()), float(filled.max())
    encoded = np.round((filled - low) / (high - low) * 65535).astype(np.uint16)
    here = Path(__file__).parent
    Image.fromarray(left).save(here / "motorcycle.jpg", quality=92)
    Image.fromarray(encoded).save(here / "motorcycle-disparity.png")
    print(f"disparity {low:.1f}..{high:.1f} px, {int((~np.isfinite(disparity)).sum())} holes filled")


if __name__ == "__main__":
    main()
