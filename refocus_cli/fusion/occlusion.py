"""Picks at depth edges decided by depth consistency instead of local contrast.

Next to an occlusion edge the sharpest-frame picks go wrong on both sides. In the frame focused on the far
side, the near side's blurred rim spills over the far side; in the frame focused on the near side, the sharp
edge's own contrast reaches a few pixels into the far side. So local contrast gives the near frame a band of the
far side (a thin wire gets picked several pixels wide, and the background beside it comes out blurred), and
the far frame some of the near side (where the sharp background shows through the near side's blurred rim).

At such an edge two frames compete: `near` and `far`, the nearest and farthest focus picked within a few
pixels. If the pixel belongs to the near side, the far frame shows it as the near frame blurred by their
relative defocus; if it belongs to the far side, the near frame shows it as the far frame blurred by that
defocus. The side is the hypothesis with the smaller residual, per pixel:

    near  if |F_far - G(F_near)|^2 < |F_near - G(F_far)|^2,  G: Gaussian of the pair's relative blur

(the blurred rim spilling over the far side is explained by the near hypothesis only where the near side is,
so the spill does not vote for the wrong side). The relative blur of any two frames comes from one position per
frame along the focus axis (`blur_positions`): thin-lens blur is proportional to the distance between focus
planes in disparity, so the blur between frames i and j is |s_i - s_j|, and neighbours' blurs add up. Each
neighbour step is fitted on the stack itself, where the sharper frame of the pair is the one picked.

Measured on the fusion benchmark's hard stacks (`bench/fusion.py`), see the README's "Focus stacking" figures.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from refocus_cli.fusion.planes import blur_array, hwc, luma

EDGE_REACH_PX = 2.0
"""How far from a change of pick the two sides are compared (at 1000 px on the long side)."""
MIN_RELATIVE_SIGMA_PX = 0.5
"""Frames whose relative blur is below this (Gaussian sigma, frame pixels) look alike: left as picked."""
FIT_SIGMAS_PX = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0)
"""Candidate relative blurs (Gaussian sigma at the working size) of a neighbour step, refined by a parabola."""
WIDE_STEP_SIGMAS = 2.0
"""Blurs wider than twice this are computed on smaller copies (`gaussian`)."""
FIT_SIDE_PX = 512
"""Neighbour steps are fitted on grey copies at most this long (and scaled back to the frames' pixels)."""
FIT_MIN_PIXELS = 200
"""A neighbour step is fitted only on at least this many textured pixels picked for one of the two frames."""
MIN_FRAME_GAP = 2
"""Only picks at least this many frames apart are redecided: neighbouring frames meet along continuous depth
slopes too, where both hypotheses fit about as well (redeciding them speckled the real stacks' picks)."""
CONFIDENCE = 2.0
"""A side wins only with a residual this many times smaller than the other's; otherwise the pick stays."""


def gaussian(plane: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of an [H,W] or [H,W,C] float32 array (reflect border); sigma 0 returns it as is.

    Wide blurs are computed on a copy area-averaged by a step of sigma / `WIDE_STEP_SIGMAS` (what survives the
    blur needs few pixels to hold it) and resized back.
    """
    import cv2

    if sigma_px <= 0:
        return plane
    step = int(sigma_px / WIDE_STEP_SIGMAS)
    if step >= 2:
        h, w = plane.shape[:2]
        small = cv2.resize(plane, (max(1, w // step), max(1, h // step)), interpolation=cv2.INTER_AREA)
        return cv2.resize(gaussian(small, sigma_px / step), (w, h), interpolation=cv2.INTER_LINEAR)
    return blur_array(plane, sigma_px)


def _fit_step(sharp: np.ndarray, soft: np.ndarray, where: np.ndarray) -> float:
    """The Gaussian sigma that best turns `sharp` into `soft` over the pixels `where` (least squares)."""
    errors = [float(np.square(gaussian(sharp, s) - soft)[where].mean()) for s in FIT_SIGMAS_PX]
    i = int(np.argmin(errors))
    if 0 < i < len(errors) - 1:
        (s0, s1, s2), (e0, e1, e2) = FIT_SIGMAS_PX[i - 1 : i + 2], errors[i - 1 : i + 2]
        # a parabola through three unevenly spaced points: its vertex
        denominator = (s0 - s1) * (s0 - s2) * (s1 - s2)
        a = (s2 * (e1 - e0) + s1 * (e0 - e2) + s0 * (e2 - e1)) / denominator
        b = (s2 * s2 * (e0 - e1) + s1 * s1 * (e2 - e0) + s0 * s0 * (e1 - e2)) / denominator
        if a > 0:
            return float(np.clip(-b / (2 * a), s0, s2))
    return FIT_SIGMAS_PX[i]


def blur_positions(greys: list[np.ndarray], picks: np.ndarray) -> list[float]:
    """Each frame's position along the focus axis in blur units (Gaussian sigma, pixels of the greys), the
    first frame at 0: the relative blur of frames i and j is |s_i - s_j|.

    Args:
        greys: [H,W] float32 grey copies of the aligned frames, in focus order.
        picks: [H,W] the sharpest frame's index per pixel, on the greys' grid.

    A neighbour step is fitted both ways (frame i blurred into frame i+1 where i is picked, and back where
    i+1 is), on textured pixels (the upper half of the sharper frame's |Laplacian|) away from pick boundaries;
    a step with too few pixels takes the median of the others (0 when there are none).
    """
    import cv2

    kernel = np.ones((7, 7), np.uint8)
    steps: list[float | None] = []
    for i in range(len(greys) - 1):
        fits, weights = [], []
        for sharp, soft in ((i, i + 1), (i + 1, i)):
            where = cv2.erode((picks == sharp).astype(np.uint8), kernel) > 0
            if int(where.sum()) < FIT_MIN_PIXELS:
                continue
            detail = np.abs(cv2.Laplacian(greys[sharp], cv2.CV_32F))
            where &= detail >= np.median(detail[where])
            fits.append(_fit_step(greys[sharp], greys[soft], where))
            weights.append(int(where.sum()))
        steps.append(float(np.average(fits, weights=weights)) if fits else None)
    known = [s for s in steps if s is not None]
    fallback = float(np.median(known)) if known else 0.0
    positions = [0.0]
    for step in steps:
        positions.append(positions[-1] + (fallback if step is None else step))
    return positions


def _working_greys(frames: list[torch.Tensor], picks: torch.Tensor) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Grey copies of the frames and the picks at most `FIT_SIDE_PX` long, and the frames' pixels per
    working pixel."""
    import cv2

    h, w = frames[0].shape[-2:]
    factor = max(1.0, max(h, w) / FIT_SIDE_PX)
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    greys = []
    for frame in frames:
        grey = hwc(luma(frame.float()))[..., 0]
        greys.append(cv2.resize(grey, size, interpolation=cv2.INTER_AREA) if factor > 1 else grey)
    labels = picks[0, 0].numpy().astype(np.uint8)
    small = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST) if factor > 1 else labels
    return greys, np.asarray(small, dtype=np.uint8), factor


def edge_consistent_picks(frames: list[torch.Tensor], picks: torch.Tensor, reach_px: float) -> torch.Tensor:
    """The picks [1,1,H,W] (long) redecided near their changes by depth consistency (module docstring).

    Args:
        frames: aligned, exposure-balanced frames [1,3,H,W] in focus order (any float dtype, CPU).
        picks: [1,1,H,W] long, the consistent sharpest-frame picks.
        reach_px: how far from a change of pick pixels are redecided, in frame pixels.
    """
    import cv2

    greys, small_picks, factor = _working_greys(frames, picks)
    positions = [s * factor for s in blur_positions(greys, small_picks)]
    labels = picks[0, 0].numpy().astype(np.uint8)
    reach = max(1, round(reach_px))
    window = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    nearest, farthest = cv2.erode(labels, window), cv2.dilate(labels, window)
    zone = farthest > nearest
    out = labels.copy()
    for near, far in sorted(set(zip(nearest[zone].tolist(), farthest[zone].tolist(), strict=True))):
        sigma = positions[far] - positions[near]
        if sigma < MIN_RELATIVE_SIGMA_PX or far - near < MIN_FRAME_GAP:
            continue
        chosen = zone & (nearest == near) & (farthest == far)
        rows, cols = np.nonzero(chosen)
        margin = math.ceil(3 * sigma) + 1
        top, left = max(0, int(rows.min()) - margin), max(0, int(cols.min()) - margin)
        bottom, right = int(rows.max()) + margin + 1, int(cols.max()) + margin + 1
        a = hwc(frames[near][..., top:bottom, left:right])
        b = hwc(frames[far][..., top:bottom, left:right])
        near_residual = np.square(b - gaussian(a, sigma)).sum(axis=-1)
        far_residual = np.square(a - gaussian(b, sigma)).sum(axis=-1)
        box = chosen[top:bottom, left:right]
        nr, fr = near_residual[box], far_residual[box]
        current = out[top:bottom, left:right][box]
        decided = np.where(nr * CONFIDENCE < fr, near, np.where(fr * CONFIDENCE < nr, far, current))
        out[top:bottom, left:right][box] = decided
    return torch.from_numpy(out.astype(np.int64))[None, None]
