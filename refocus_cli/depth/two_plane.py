"""Last-resort depth for a photo with no depth anywhere: the subject under the focus point as one plane,
in front of a background that recedes smoothly from the bottom of the frame to the top.

The subject is segmented with OpenCV's GrabCut (colour models refined by a graph cut, Rother et al. 2004) on a
copy at most `WORK_SIDE_PX` on its long side (and at least 8 px on each side: a tiny photo is enlarged), in two
passes. The first starts from the focus box when there is one, else from the whole frame less a thin band at the
top and sides (a subject is often cut by the bottom edge, rarely by the top): what looks unlike that band is
foreground. The piece under the focus point is kept (or the nearest one within `SNAP_SHARE` of the frame: a
point that falls just off the subject's edge still means the subject; farther off, the largest piece), with the
sizeable pieces near it (a face beyond a dark collar). The second pass starts from their convex hull, with
background colours learned only away from it, so that parts of the subject that look like the background band
(a dark collar, a helmet) rejoin it; holes are filled. The focus point always lies on the subject: when it
falls just off it, a small disc around the point joins the subject, so that the focus window reads the subject
plane. A clip's followed subject comes with the tracker's box (`SubjectHint.followed_xywh`): when no piece is
within reach of the point (GrabCut cannot tell the subject from the background), that box is the subject, so the
followed point is on the subject plane on every frame. The mask is feathered at full resolution. The result is
an approximation, and it says so in its `source`, so the terminal and `--json` can say so too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from refocus_cli.colour import linear_to_srgb
from refocus_cli.io.depth_files import DepthMap

SOURCE = "approximate:two-plane"
WORK_SIDE_PX = 320
SUBJECT_DISPARITY = 1.0
BACKGROUND_NEAR, BACKGROUND_FAR = 0.55, 0.0  # bottom and top rows of the background
BAND_SHARE = 0.03
"""Width of the band at the top and sides, as a share of the long side, that the first pass takes as background."""
FIRST_ITERATIONS, SECOND_ITERATIONS = 5, 3
"""GrabCut iterations of each pass."""
SNAP_SHARE = 0.03
"""A focus point this close to a foreground piece (share of the long side) is taken to mean that piece."""
JOIN_SHARE = 0.1
"""Foreground pieces this close to the subject (share of the long side) join it when large enough..."""
MIN_PIECE_SHARE = 0.002
"""...at least this share of the frame."""
CLOSE_SHARE = 0.03
"""Radius (share of the long side) of the disc the subject is closed with: gaps and notches narrower join it."""
POINT_DISC_SHARE = 0.02
"""Radius (share of the short side) of the disc that joins a focus point just off the subject to it: more than
the half-diagonal of the focus window (1% of the short side each way, see `focus.focus_window`)."""


@dataclass(frozen=True)
class SubjectHint:
    """Where the subject is: a point (x, y) and, optionally, a box (x, y, w, h), in pixels; `followed_xywh`, the
    box (x, y, w, h) of a subject followed through a clip, is the subject when the segmentation finds none at
    the point."""

    point_xy: tuple[float, float]
    box_xywh: tuple[float, float, float, float] | None = None
    followed_xywh: tuple[float, float, float, float] | None = None


def two_plane_depth(linear: torch.Tensor, hint: SubjectHint) -> DepthMap:
    """Disparity [1,1,H,W]: the segmented subject at 1, a background ramp from 0.55 (bottom) to 0 (top).

    Args:
        linear: [1,3,H,W] linear light.
        hint: the focus point (and box) that marks the subject.
    """
    disparity = disparity_from_mask(subject_mask(linear, hint))
    return DepthMap(disparity=disparity, metric_depth_m=None, source=SOURCE)


def disparity_from_mask(subject: torch.Tensor) -> torch.Tensor:
    """[1,1,H,W] two-plane disparity from a subject's [H,W] soft mask in [0, 1]: the subject at 1 before the
    background ramp."""
    h, w = subject.shape
    rows = torch.linspace(BACKGROUND_FAR, BACKGROUND_NEAR, h).view(h, 1).expand(h, w)
    disparity = subject * SUBJECT_DISPARITY + (1.0 - subject) * rows
    return disparity[None, None].float()


def subject_mask(linear: torch.Tensor, hint: SubjectHint) -> torch.Tensor:
    """[H,W] soft mask of the subject under the hint (see the module's doc), feathered, in [0, 1]."""
    import cv2  # heavy: imported only when the fallback runs

    _, _, h, w = linear.shape
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    small_hw = (max(8, round(h * scale)), max(8, round(w * scale)))
    if scale < 1:
        small = F.interpolate(linear, size=small_hw, mode="area")
    elif tuple(linear.shape[-2:]) != small_hw:  # a tiny photo: GrabCut needs room for a border around its box
        small = F.interpolate(linear, size=small_hw, mode="nearest")
    else:
        small = linear
    bgr = (linear_to_srgb(small)[0].permute(1, 2, 0).flip(-1).numpy() * 255).round().astype(np.uint8)
    sx, sy = small_hw[1] / w, small_hw[0] / h
    point = (min(small_hw[1] - 1, int(hint.point_xy[0] * sx)), min(small_hw[0] - 1, int(hint.point_xy[1] * sy)))
    rect = _start_rect(hint, sx, sy, small_hw)
    first = _grabcut(bgr, cv2.GC_INIT_WITH_RECT, rect=rect, iterations=FIRST_ITERATIONS)
    if first is None:  # no colour model to fit (too few distinct pixels): the box itself is the subject
        left, top, box_w, box_h = rect
        first = np.zeros(small_hw, np.uint8)
        first[top : top + box_h, left : left + box_w] = 1
    chosen, snapped = _pick(first, point)
    if not snapped and hint.followed_xywh is not None:
        subject = _box_mask(hint.followed_xywh, sx, sy, small_hw)
    else:
        subject = _fill_holes(_close(_refine(bgr, chosen)) if chosen.any() else chosen)
    if snapped and not subject[point[1], point[0]]:
        radius = max(1, round(POINT_DISC_SHARE * min(small_hw)))
        cv2.circle(subject, point, radius, 1, thickness=-1)
    full = F.interpolate(torch.from_numpy(subject.astype(np.float32))[None, None], size=(h, w), mode="bilinear")
    feather = max(1, round(0.004 * max(h, w)))
    full = F.avg_pool2d(F.pad(full, [feather] * 4, mode="replicate"), 2 * feather + 1, stride=1)
    return full[0, 0].clamp(0.0, 1.0)


def _grabcut(
    bgr: np.ndarray,
    mode: int,
    *,
    iterations: int,
    rect: tuple[int, int, int, int] | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray | None:
    """GrabCut's foreground [h,w] uint8 0/1 from a box or a mask of GC_* labels; None when it cannot fit."""
    import cv2

    labels = np.zeros(bgr.shape[:2], np.uint8) if mask is None else mask.copy()
    cv2.setRNGSeed(0)  # its colour models start from k-means: the same photo, the same mask
    background_model, foreground_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(bgr, labels, rect or (0, 0, 0, 0), background_model, foreground_model, iterations, mode)
    except cv2.error:
        return None
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def _pick(foreground: np.ndarray, point: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """The piece under the point (or the nearest within `SNAP_SHARE`, else the largest) and the sizeable pieces
    near it, as [h,w] uint8; and whether the point was within reach of the subject (on it or snapped)."""
    import cv2

    h, w = foreground.shape
    count, labels = cv2.connectedComponents(foreground)
    if count <= 1:
        return np.zeros_like(foreground), False
    distance, nearest = _nearest_foreground(foreground, labels, point)
    snapped = distance <= SNAP_SHARE * max(h, w)
    keep = nearest if snapped else _largest_label(labels, count)
    chosen = (labels == keep).astype(np.uint8)
    reach = cv2.distanceTransform(1 - chosen, cv2.DIST_L2, 5) <= JOIN_SHARE * max(h, w)
    sizes = np.bincount(labels.ravel(), minlength=count)
    near_labels = np.unique(labels[reach & (foreground > 0)])
    for label in near_labels[(near_labels > 0) & (sizes[near_labels] >= MIN_PIECE_SHARE * h * w)]:
        chosen[labels == label] = 1
    return chosen, snapped


def _nearest_foreground(foreground: np.ndarray, labels: np.ndarray, point: tuple[int, int]) -> tuple[float, int]:
    """Distance (px) from the point to the nearest foreground pixel, and that pixel's label."""
    ys, xs = np.nonzero(foreground)
    squared = (xs - point[0]) ** 2 + (ys - point[1]) ** 2
    index = int(squared.argmin())
    return float(np.sqrt(squared[index])), int(labels[ys[index], xs[index]])


def _refine(bgr: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Second pass: probable foreground inside the chosen pieces' convex hull, background certain only beyond
    `JOIN_SHARE` of it; the refined pieces that overlap the chosen ones ([h,w] uint8)."""
    import cv2

    h, w = chosen.shape
    hull = np.zeros_like(chosen)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(chosen)), 1)
    mask = np.where(hull > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    mask[cv2.distanceTransform(1 - hull, cv2.DIST_L2, 5) > JOIN_SHARE * max(h, w)] = cv2.GC_BGD
    refined = _grabcut(bgr, cv2.GC_INIT_WITH_MASK, mask=mask, iterations=SECOND_ITERATIONS)
    if refined is None:
        return chosen
    _, labels = cv2.connectedComponents(refined)
    keep = np.unique(labels[(chosen > 0) & (refined > 0)])
    kept = np.isin(labels, keep[keep > 0]).astype(np.uint8)
    return kept if kept.any() else chosen


def _close(mask: np.ndarray) -> np.ndarray:
    """[h,w] uint8 closed by a disc of radius `CLOSE_SHARE` of the long side (edges replicated)."""
    import cv2

    radius = max(1, round(CLOSE_SHARE * max(mask.shape)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    padded = np.pad(mask, radius, mode="edge")
    return cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc)[radius:-radius, radius:-radius]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """[h,w] uint8 with the background pieces that do not touch the frame's edge filled."""
    import cv2

    _, labels = cv2.connectedComponents((mask == 0).astype(np.uint8))
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = (labels > 0) & ~np.isin(labels, edge)
    return (mask.astype(bool) | holes).astype(np.uint8)


def _start_rect(hint: SubjectHint, sx: float, sy: float, small_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """GrabCut's starting box on the small copy: the given box, else the frame less a band at the top and sides."""
    hs, ws = small_hw
    if hint.box_xywh is not None:
        x, y, bw, bh = hint.box_xywh
        left, top, right, bottom = x * sx, y * sy, (x + bw) * sx, (y + bh) * sy
    else:
        band = BAND_SHARE * max(hs, ws)
        left, top, right, bottom = band, band, ws - band, hs
    left, top = max(1, int(left)), max(1, int(top))
    right, bottom = min(ws - 1, int(right)), min(hs, int(bottom))
    return left, top, max(2, right - left), max(2, bottom - top)


def _box_mask(
    box_xywh: tuple[float, float, float, float], sx: float, sy: float, small_hw: tuple[int, int]
) -> np.ndarray:
    """[h,w] uint8, 1 inside the box (x, y, w, h of the full frame) scaled by (sx, sy) to the small copy."""
    x, y, bw, bh = box_xywh
    mask = np.zeros(small_hw, np.uint8)
    left, top = max(0, round(x * sx)), max(0, round(y * sy))
    mask[top : max(top + 1, round((y + bh) * sy)), left : max(left + 1, round((x + bw) * sx))] = 1
    return mask


def _largest_label(labels: np.ndarray, count: int) -> int:
    if count <= 1:
        return 0
    sizes = np.bincount(labels.ravel(), minlength=count)
    sizes[0] = 0
    return int(sizes.argmax())
