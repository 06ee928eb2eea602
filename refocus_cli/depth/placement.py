"""Relative depth placed in metres, for camera terms (f-number, focal length) on a photo without metric depth.

A relative disparity d in [0, 1] (1 = nearest: a disparity file, a learned model's relative depth, the photo's
defocus, the two-plane approximation) is affine in inverse depth, ``1/Z = a*d + b``, with a and b unknown. Two
facts fix them:

* the focus: the focus disparity d_f lies at the focus distance S, which is, in this order, the one given
  (``--focus-distance`` or a preset's), the photo's EXIF SubjectDistance, or assumed from the framing;
* the far limit: disparity 0 lies at ``far_m``, by default infinity (the farthest thing in an ordinary photo is
  taken to be far enough that a lens at infinity would render it sharp).

So ``1/Z = 1/S + (1/S - 1/far) * (d - d_f) / max(d_f, MIN_FOCUS_LEVER)``. The lever floor keeps a focus on the
far end of the map (d_f near 0) from placing the near end at a vanishing distance: the nearest point is never
nearer than ``S * MIN_FOCUS_LEVER / (1 + MIN_FOCUS_LEVER)`` (S / 11), and the focus stays exactly at S.

The framing rule (no distance given or recorded): the subject of a portrait, head and shoulders about
``SUBJECT_HEIGHT_M`` = 0.6 m, fills the frame's short side, 24 mm on a 36 x 24 mm frame at the 35 mm-equivalent
focal length f35 = f * 36 / sensor width. By similar triangles ``S = 0.6 m * f35 / 24 mm = 0.025 m/mm * f35``:
2.1 m for 85 mm, 1.25 m for 50 mm, 0.65 m for a 26 mm-equivalent phone camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from refocus_cli.errors import SettingsError
from refocus_cli.lens import FULL_FRAME_WIDTH_MM

if TYPE_CHECKING:
    import torch

SUBJECT_HEIGHT_M = 0.6
"""Height of a head-and-shoulders subject that fills the frame's short side (the framing rule)."""
FULL_FRAME_HEIGHT_MM = 24.0
"""The short side of the 36 x 24 mm frame the 35 mm-equivalent focal length refers to."""
FAR_LIMIT_M = math.inf
"""Where disparity 0 lies unless told otherwise: infinity."""
MIN_FOCUS_LEVER = 0.1
"""Smallest focus disparity used for the scale of the map (see the module docstring)."""


@dataclass(frozen=True)
class Placement:
    """How a relative disparity map was placed in metres (the `--json` "metric_depth" record).

    Attributes:
        focus_distance_m: S, the distance of the focus disparity.
        near_m: the distance of disparity 1 (the nearest point of the map).
        far_m: the distance of disparity 0 (math.inf: infinity).
        why: where S came from, in words.
    """

    focus_distance_m: float
    near_m: float
    far_m: float
    why: str

    def to_record(self) -> dict[str, Any]:
        """The JSON record; an infinite far limit is null."""
        return {
            "source": "assumed",
            "focus_distance_m": round(self.focus_distance_m, 4),
            "near_m": round(self.near_m, 4),
            "far_m": None if math.isinf(self.far_m) else round(self.far_m, 4),
            "why": self.why,
        }

    def note(self) -> str:
        """One line saying the assumption."""
        far = "infinity" if math.isinf(self.far_m) else f"{self.far_m:g} m"
        return (
            f"no metric depth: placed the relative depth in metres with the focus at {self.focus_distance_m:.3g} m "
            f"({self.why}), disparity 0 at {far}, the nearest point at {self.near_m:.3g} m"
        )


def framing_distance_m(focal_length_mm: float, sensor_width_mm: float = FULL_FRAME_WIDTH_MM) -> float:
    """Subject distance (m) of a head-and-shoulders framing: ``0.6 m * f35 / 24 mm``, f35 = f * 36 mm / width.

    >>> round(framing_distance_m(85.0), 3), round(framing_distance_m(6.9, 9.8), 3)
    (2.125, 0.634)
    """
    focal_35mm = focal_length_mm * FULL_FRAME_WIDTH_MM / sensor_width_mm
    return SUBJECT_HEIGHT_M * focal_35mm / FULL_FRAME_HEIGHT_MM


def focus_distance_choice(
    given_m: float | None, exif_m: float | None, focal_length_mm: float, sensor_width_mm: float
) -> tuple[float, str]:
    """(S in metres, why): the distance given, else EXIF SubjectDistance (when beyond the focal length, else it
    is not believed), else the framing rule.

    >>> focus_distance_choice(None, None, 50.0, 36.0)[0], focus_distance_choice(None, 3.0, 50.0, 36.0)
    (1.25, (3.0, "the photo's EXIF SubjectDistance"))
    """
    if given_m is not None:
        return given_m, "given"
    if exif_m is not None and exif_m * 1000.0 > focal_length_mm:
        return exif_m, "the photo's EXIF SubjectDistance"
    per_mm = SUBJECT_HEIGHT_M / FULL_FRAME_HEIGHT_MM
    why = (
        f"assumed: a head-and-shoulders framing at {focal_length_mm:g} mm on a {sensor_width_mm:g} mm wide sensor, "
        f"{per_mm:g} m per mm of 35 mm-equivalent focal length"
    )
    return framing_distance_m(focal_length_mm, sensor_width_mm), why


def check_far_limit(focus_distance_m: float, far_m: float) -> None:
    """Raise `SettingsError` unless 0 < S < far (the focus must lie in front of the far end of the map)."""
    if not (0 < focus_distance_m < math.inf and focus_distance_m < far_m and far_m > 0):
        raise SettingsError(
            f"the focus distance {focus_distance_m:g} m must lie nearer than the far limit of the depth ({far_m:g} m)"
        )


def inverse_depth_per_m(
    disparity: torch.Tensor, focus_disparity: float, focus_distance_m: float, far_m: float = FAR_LIMIT_M
) -> torch.Tensor:
    """Inverse depth 1/Z [N,1,H,W] in 1/m of a relative disparity [N,1,H,W] in [0, 1] (1 = nearest).

    ``1/Z = 1/S + (1/S - 1/far) * (d - d_f) / max(d_f, MIN_FOCUS_LEVER)``: 1/S at d_f, 1/far at d = 0 (when
    d_f >= MIN_FOCUS_LEVER), never below 1/far on [0, 1] (0 for an infinite far limit).

    >>> import torch
    >>> inverse_depth_per_m(torch.tensor([[[[0.0, 0.5, 1.0]]]]), 0.5, 2.0).tolist()
    [[[[0.0, 0.5, 1.0]]]]
    """
    check_far_limit(focus_distance_m, far_m)
    focus_w, far_w = 1.0 / focus_distance_m, 1.0 / far_m
    lever = max(focus_disparity, MIN_FOCUS_LEVER)
    inverse = focus_w + (focus_w - far_w) * (disparity - focus_disparity) / lever
    return inverse.clamp_min(far_w)  # >= 1/far on [0, 1] but for rounding


def placement(focus_disparity: float, focus_distance_m: float, why: str, far_m: float = FAR_LIMIT_M) -> Placement:
    """The record of a placement: S, the distance of disparity 1 and of disparity 0, and why S.

    >>> placement(0.5, 2.0, "given").near_m
    1.0
    """
    check_far_limit(focus_distance_m, far_m)
    focus_w, far_w = 1.0 / focus_distance_m, 1.0 / far_m
    lever = max(focus_disparity, MIN_FOCUS_LEVER)
    near_w = focus_w + (focus_w - far_w) * (1.0 - focus_disparity) / lever
    far_end_w = focus_w - (focus_w - far_w) * focus_disparity / lever
    return Placement(focus_distance_m, 1.0 / near_w, math.inf if far_end_w <= 0 else 1.0 / far_end_w, why)
