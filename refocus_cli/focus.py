"""Where to focus, in one place: the request a user makes (a point, a box or a disparity), its checks, the window
of the depth map that decides it, the focus disparity and the metric focus distance, and the subject hint that
segmentation starts from. Light at import: the commands build and check a FocusSpec before any heavy import."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.errors import InputError, SettingsError

if TYPE_CHECKING:
    import torch

    from refocus_cli.depth.two_plane import SubjectHint
    from refocus_cli.io.depth_files import DepthMap


@dataclass(frozen=True)
class FocusSpec:
    """Where to focus: a pixel (x, y), a box (x, y, w, h), or a disparity; nothing = auto-focus."""

    point_xy: tuple[float, float] | None = None
    box_xywh: tuple[float, float, float, float] | None = None
    disparity: float | None = None


def check_focus_disparity(disparity: float, option: str = "--focus-depth") -> None:
    """Raise `SettingsError` unless `disparity` lies in [0, 1] (0 = farthest, 1 = nearest).

    >>> check_focus_disparity(0.5)
    """
    if not (math.isfinite(disparity) and 0.0 <= disparity <= 1.0):
        raise SettingsError(f"{option} must be a disparity between 0 and 1, got {disparity:g}")


def subject_hint(focus: FocusSpec, size_hw: tuple[int, int]) -> SubjectHint:
    """The focus request as a hint for segmenting the subject (the frame's centre without a point or box)."""
    from refocus_cli.depth.two_plane import SubjectHint

    h, w = size_hw
    if focus.box_xywh is not None:
        x, y, bw, bh = focus.box_xywh
        return SubjectHint((x + bw / 2, y + bh / 2), focus.box_xywh)
    if focus.point_xy is not None:
        return SubjectHint(focus.point_xy)
    return SubjectHint((w / 2, h / 2))


def focus_window(focus: FocusSpec, path: Path, size_hw: tuple[int, int]) -> tuple[slice, slice, str]:
    """Rows and columns whose depth decides the focus, and the rule used (for --json)."""
    h, w = size_hw
    if focus.box_xywh is not None:
        x, y, bw, bh = focus.box_xywh
        if bw <= 0 or bh <= 0 or x < 0 or y < 0 or x + bw > w or y + bh > h:
            raise InputError(path, f"--focus box {x:g},{y:g},{bw:g},{bh:g} is not inside the image ({w}x{h})")
        return slice(int(y), max(int(y) + 1, int(y + bh))), slice(int(x), max(int(x) + 1, int(x + bw))), "box"
    if focus.point_xy is not None:
        x, y = focus.point_xy
        if not (0 <= x < w and 0 <= y < h):
            raise InputError(path, f"--focus point {x:g},{y:g} is outside the image ({w}x{h})")
        half = max(2, round(0.01 * min(h, w)))
        rows = slice(max(0, int(y) - half), min(h, int(y) + half + 1))
        return rows, slice(max(0, int(x) - half), min(w, int(x) + half + 1)), "point"
    # No focus given: the central tenth of the frame (the depth issue brings subject detection).
    return (
        slice(int(0.45 * h), max(int(0.45 * h) + 1, int(0.55 * h))),
        slice(int(0.45 * w), max(int(0.45 * w) + 1, int(0.55 * w))),
        "centre",
    )


def focus_disparity_of(depth: DepthMap, focus: FocusSpec, path: Path) -> tuple[float, str]:
    """The disparity to focus on: given directly, or the median depth in the focus window."""
    if focus.disparity is not None:
        check_focus_disparity(focus.disparity)
        return focus.disparity, "focus-depth"
    h, w = depth.disparity.shape[-2:]
    rows, cols, rule = focus_window(focus, path, (int(h), int(w)))
    return float(depth.disparity[0, 0, rows, cols].median()), rule


def metric_focus_distance(depth_m: torch.Tensor, focus: FocusSpec, path: Path) -> float:
    """Metric focus distance (m) for a focus request: the median depth [1,1,H,W] in its window.

    Raises:
        SettingsError: the request is a disparity (--focus-depth), which has no distance.
        InputError: the point or box lies outside the image (named by `path`).
    """
    if focus.disparity is not None:
        raise SettingsError("--focus-depth takes a disparity; in physical mode give --focus-distance in metres")
    rows, cols, _ = focus_window(focus, path, tuple(depth_m.shape[-2:]))  # type: ignore[arg-type]
    return float(depth_m[0, 0, rows, cols].median())
