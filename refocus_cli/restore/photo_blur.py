"""The photo's own blur (K0, d0) from the photo and its depth: spectral blur scores per depth bin at two
scales of a working copy, fitted jointly (`restore.fit.fit_blur_scores`).

The working copy is at most `WORK_SIDE_PX` on its long side; it is measured as is and at half size, since a
patch of `restore.measure.PATCH_PX` can tell radii apart up to about a quarter of its side (the rings of a
larger disc are closer than the window's resolution), so large blur is read at the coarser scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from refocus_cli.restore.fit import PhotoDefocus, fit_blur_scores
from refocus_cli.restore.measure import PATCH_PX, measure_layer_blur

WORK_SIDE_PX = 512
"""Long side (px) of the copy the blur is measured on; K0 is scaled back to the photo's size."""
SCALES = (1.0, 0.5)
"""Scales of the working copy measured."""
BINS = 24
MAX_RADIUS_PX = PATCH_PX / 4
"""Largest radius scored at each scale (px at that scale)."""


def fit_photo_blur(linear: torch.Tensor, disparity: torch.Tensor) -> PhotoDefocus:
    """Fit the photo's blur ``|r| = K0 |d - d0|`` (r in px of the photo) from its spectra per depth bin.

    Args:
        linear: [1,3,H,W] photo, linear light.
        disparity: [1,1,H,W] in [0, 1].

    Returns:
        PhotoDefocus with K0 in the photo's pixels, d0, and `reliable` / `blurred_share` from the evidence.

    >>> fit = fit_photo_blur(torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    >>> fit.reliable
    False
    """
    h, w = linear.shape[-2:]
    work = min(1.0, WORK_SIDE_PX / max(h, w))
    measurements = []
    for scale in SCALES:
        factor = work * scale
        if min(h, w) * factor < PATCH_PX:
            continue
        image, depth = linear[:1].float(), disparity[:1].float()
        if factor < 1:
            image = F.interpolate(image, scale_factor=factor, mode="area")
            depth = F.interpolate(depth, scale_factor=factor, mode="area")
        blur = measure_layer_blur(image, depth, bins=BINS, max_radius_px=MAX_RADIUS_PX)
        factor = image.shape[-1] / w  # the exact scale after rounding
        measurements.append((factor, blur.disparity, blur.patches, blur.candidate_radii_px, blur.scores))
    return fit_blur_scores(measurements)
