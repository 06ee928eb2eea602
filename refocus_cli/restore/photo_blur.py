"""The photo's own blur (K0, d0) from the photo and its depth, from two kinds of evidence per depth bin, each
fitted jointly over the bins (`restore.fit`): the disc's spectrum (`restore.measure`) and band energies against
a reblurred reference (`restore.bands`).  The spectral fit is kept; the two must agree for it to be reliable.

The working copy is at most `WORK_SIDE_PX` on its long side; it is measured as is and at coarser scales, since
a patch of `PATCH_PX` tells radii apart up to about a quarter of its side, so large blur is read coarser.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from refocus_cli.restore.bands import measure_band_costs
from refocus_cli.restore.fit import PhotoDefocus, fit_blur_costs, fit_blur_scores
from refocus_cli.restore.measure import measure_layer_blur

WORK_SIDE_PX = 512
"""Long side (px) of the copy the blur is measured on; K0 is scaled back to the photo's size."""
SCALES = (1.0, 0.5, 0.25)
"""Scales of the working copy measured (the spectral scores use the first two)."""
PATCH_PX = 32
BINS = 16
MAX_RADIUS_PX = PATCH_PX / 4
"""Largest radius scored at each scale (px at that scale)."""
COST_CAP = 1.5
"""Band costs (summed absolute log band ratios) are capped here in the joint fit."""
BEYOND_COST = 0.1
"""Band cost per doubling of a radius past the largest a scale scores."""
CONFIRM_COST = 0.3
"""A bin confirms blur when its band cost at radius 0 exceeds its cost at the fit by this much."""
AGREE_FOCUS = 0.1
"""The two fits agree when their foci differ by at most this much disparity..."""
AGREE_K_RATIO = 1.5
"""...and their K0 by at most this factor."""
SPECTRAL_BINS = 24
RELIABLE_SHARE = 0.15
"""Both fits must confirm blur on at least this share of the measured frame for the fit to be reliable (a
reliable-but-wrong fit was seen on a real macro frame with 0.125)."""


Measurements = list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


def working_copies(linear: torch.Tensor, disparity: torch.Tensor) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """(exact scale of the photo, [1,3,h,w] photo, [1,1,h,w] disparity) at each of `SCALES` of the working copy
    that still holds a patch."""
    h, w = linear.shape[-2:]
    work = min(1.0, WORK_SIDE_PX / max(h, w))
    image, depth = linear[:1].float(), disparity[:1].float()
    copies: list[tuple[float, torch.Tensor, torch.Tensor]] = []
    for scale in SCALES:
        factor = work * scale
        if min(h, w) * factor < PATCH_PX:
            continue
        if factor < 1:  # each copy from the previous one: area averages nest
            source = copies[-1] if copies else (1.0, image, depth)
            relative = factor / source[0]
            image = F.interpolate(source[1], scale_factor=relative, mode="area")
            depth = F.interpolate(source[2], scale_factor=relative, mode="area")
        copies.append((image.shape[-1] / w, image, depth))
    return copies


def band_measurements(copies: list[tuple[float, torch.Tensor, torch.Tensor]]) -> Measurements:
    """Per working copy: (scale of the photo, bin disparities [B], patches [B], radii [R] px, band costs [B,R])."""
    measurements = []
    for scale, image, depth in copies:
        costs = measure_band_costs(image, depth, bins=BINS, max_radius_px=MAX_RADIUS_PX, patch_px=PATCH_PX)
        if costs is not None:
            measurements.append((scale, costs.disparity, costs.patches, costs.radii_px, costs.costs))
    return measurements


def spectral_measurements(copies: list[tuple[float, torch.Tensor, torch.Tensor]]) -> Measurements:
    """Per working copy of the first two: the disc-spectrum misfit scores of `restore.measure.measure_layer_blur`,
    as (scale of the photo, bin disparities [B], patches [B], radii [R] px, scores [B,R])."""
    measurements = []
    for scale, image, depth in copies[:2]:
        blur = measure_layer_blur(image, depth, bins=SPECTRAL_BINS, max_radius_px=MAX_RADIUS_PX)
        measurements.append((scale, blur.disparity, blur.patches, blur.candidate_radii_px, blur.scores))
    return measurements


def agree(first: PhotoDefocus, second: PhotoDefocus) -> bool:
    """Whether two fits of one photo tell the same blur: foci within `AGREE_FOCUS`, K0 within `AGREE_K_RATIO`."""
    ratio = max(first.k0_px, 1e-6) / max(second.k0_px, 1e-6)
    return abs(first.focus_disparity - second.focus_disparity) <= AGREE_FOCUS and (
        1 / AGREE_K_RATIO <= ratio <= AGREE_K_RATIO
    )


def fit_photo_blur(linear: torch.Tensor, disparity: torch.Tensor) -> PhotoDefocus:
    """Fit the photo's blur ``|r| = K0 |d - d0|`` (r in px of the photo) from two kinds of evidence per
    depth bin: the disc's spectrum (`restore.measure`, precise where the rings survive) and band energies
    against a reblurred reference (`restore.bands`, ring-free).  The spectral fit is returned; it is reliable
    only when both fits confirm blur on `RELIABLE_SHARE` of the frame and agree (`agree`): JPEG and real lenses that
    smear the rings, or a depth map that does not separate the blur, make the two disagree.

    Args:
        linear: [1,3,H,W] photo, linear light.
        disparity: [1,1,H,W] in [0, 1].

    Returns:
        PhotoDefocus with K0 in the photo's pixels, d0, and `reliable` / `blurred_share` from the evidence.

    >>> fit = fit_photo_blur(torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    >>> fit.reliable
    False
    """
    copies = working_copies(linear, disparity)
    spectral = fit_blur_scores(spectral_measurements(copies))
    bands = fit_blur_costs(
        band_measurements(copies), cost_cap=COST_CAP, beyond_cost=BEYOND_COST, confirm_cost=CONFIRM_COST
    )
    shares = min(spectral.blurred_share or 0.0, bands.blurred_share or 0.0)
    reliable = spectral.reliable and bands.reliable and shares >= RELIABLE_SHARE and agree(spectral, bands)
    return replace(spectral, reliable=reliable)
