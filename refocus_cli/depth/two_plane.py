"""Last-resort depth for a photo with no depth anywhere: the subject under the focus point as one plane,
in front of a background that recedes smoothly from the bottom of the frame to the top.

The subject is segmented with OpenCV's GrabCut (colour models refined by a graph cut, Rother et al. 2004),
started from a box around the focus point, on a copy at most 512 px on its long side (and at least 8 px on each
side: a tiny photo is enlarged, so the box has a border of background around it); the component under
the focus point is kept and its edge feathered at full resolution. The result is an approximation, and it
says so in its `source`, so the terminal and `--json` can say so too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from refocus_cli.colour import linear_to_srgb
from refocus_cli.io.depth_files import DepthMap

SOURCE = "approximate:two-plane"
WORK_SIDE_PX = 512
SUBJECT_DISPARITY = 1.0
BACKGROUND_NEAR, BACKGROUND_FAR = 0.55, 0.0  # bottom and top rows of the background


@dataclass(frozen=True)
class SubjectHint:
    """Where the subject is: a point (x, y) and, optionally, a box (x, y, w, h), in pixels."""

    point_xy: tuple[float, float]
    box_xywh: tuple[float, float, float, float] | None = None


def two_plane_depth(linear: torch.Tensor, hint: SubjectHint) -> DepthMap:
    """Disparity [1,1,H,W]: the segmented subject at 1, a background ramp from 0.55 (bottom) to 0 (top).

    Args:
        linear: [1,3,H,W] linear light.
        hint: the focus point (and box) that marks the subject.
    """
    _, _, h, w = linear.shape
    subject = subject_mask(linear, hint)  # [H,W] float in [0, 1], feathered
    rows = torch.linspace(BACKGROUND_FAR, BACKGROUND_NEAR, h).view(h, 1).expand(h, w)
    disparity = subject * SUBJECT_DISPARITY + (1.0 - subject) * rows
    return DepthMap(disparity=disparity[None, None].float(), metric_depth_m=None, source=SOURCE)


def subject_mask(linear: torch.Tensor, hint: SubjectHint) -> torch.Tensor:
    """[H,W] soft mask of the subject under the hint: GrabCut on a small copy, largest piece under the point."""
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
    rect = _start_rect(hint, sx, sy, small_hw)
    mask = np.zeros(small_hw, np.uint8)
    background_model, foreground_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(bgr, mask, rect, background_model, foreground_model, 5, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # no colour model to fit (too few distinct pixels): the box itself is the subject
        left, top, box_w, box_h = rect
        mask[top : top + box_h, left : left + box_w] = cv2.GC_PR_FGD
    foreground = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    px = min(small_hw[1] - 1, int(hint.point_xy[0] * sx))
    py = min(small_hw[0] - 1, int(hint.point_xy[1] * sy))
    count, labels = cv2.connectedComponents(foreground)
    keep = labels[py, px] if foreground[py, px] else _largest_label(labels, count)
    subject = torch.from_numpy((labels == keep).astype(np.float32) if keep > 0 else np.zeros(small_hw, np.float32))
    full = F.interpolate(subject[None, None], size=(h, w), mode="bilinear", align_corners=False)
    feather = max(1, round(0.004 * max(h, w)))
    full = F.avg_pool2d(F.pad(full, [feather] * 4, mode="replicate"), 2 * feather + 1, stride=1)
    return full[0, 0].clamp(0.0, 1.0)


def _start_rect(hint: SubjectHint, sx: float, sy: float, small_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """GrabCut's starting box on the small copy: the given box, else 60% of the frame around the point."""
    hs, ws = small_hw
    if hint.box_xywh is not None:
        x, y, bw, bh = hint.box_xywh
        left, top, right, bottom = x * sx, y * sy, (x + bw) * sx, (y + bh) * sy
    else:
        half_w, half_h = 0.3 * ws, 0.3 * hs
        cx, cy = hint.point_xy[0] * sx, hint.point_xy[1] * sy
        left, top, right, bottom = cx - half_w, cy - half_h, cx + half_w, cy + half_h
    left, top = max(1, int(left)), max(1, int(top))
    right, bottom = min(ws - 2, int(right)), min(hs - 2, int(bottom))
    return left, top, max(2, right - left), max(2, bottom - top)


def _largest_label(labels: np.ndarray, count: int) -> int:
    if count <= 1:
        return 0
    sizes = np.bincount(labels.ravel(), minlength=count)
    sizes[0] = 0
    return int(sizes.argmax())
