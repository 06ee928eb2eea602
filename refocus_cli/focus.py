"""Where to focus: the request a user makes (a point, a box, or a disparity), with no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FocusSpec:
    """Where to focus: a pixel (x, y), a box (x, y, w, h), or a disparity; nothing = auto-focus."""

    point_xy: tuple[float, float] | None = None
    box_xywh: tuple[float, float, float, float] | None = None
    disparity: float | None = None
