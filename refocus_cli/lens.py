"""Thin-lens optics: the circle of confusion per pixel, from disparity or from metric depth and camera settings.

Two ways to say how much blur:

* relative (the BokehMe convention): ``coc = K * (d - d_focus)`` pixels, ``d`` a disparity in [0, 1];
* physical: the thin-lens circle of confusion of a camera (f-number, focal length, sensor width, focus
  distance) for metric depth.  It has the same form in inverse depth, so both become a signed CoC map.

Signs: a positive CoC radius is nearer than the focus plane, a negative one farther.  The renderer uses the
sign to orient asymmetric apertures (the blur of a point behind focus is the aperture image turned 180°).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from refocus_cli.errors import SettingsError

if TYPE_CHECKING:  # the CoC functions only call tensor methods: the commands check lenses without torch
    import torch

FULL_FRAME_WIDTH_MM = 36.0
MAX_COC_RADIUS_PX = 256.0


def check_focus_beyond_focal_length(focus_distance_m: float, focal_length_mm: float) -> None:
    """Raise `SettingsError` unless the focus distance lies beyond the focal length (a thin lens focuses no nearer).

    >>> check_focus_beyond_focal_length(2.0, 50.0)
    """
    if not focus_distance_m * 1000.0 > focal_length_mm:
        raise SettingsError(
            f"--focus-distance {float(focus_distance_m)} m must be beyond the focal length "
            f"({float(focal_length_mm)} mm)"
        )


@dataclass(frozen=True)
class CameraSettings:
    """A camera and lens, in the units their names carry."""

    f_number: float
    focal_length_mm: float
    sensor_width_mm: float
    focus_distance_m: float

    def __post_init__(self) -> None:
        if not self.f_number > 0:
            raise SettingsError(f"--fnumber must be positive, got {self.f_number}")
        if not self.focal_length_mm > 0:
            raise SettingsError(f"--focal-length must be positive, got {self.focal_length_mm}")
        if not self.sensor_width_mm > 0:
            raise SettingsError(f"--sensor-width must be positive, got {self.sensor_width_mm}")
        check_focus_beyond_focal_length(self.focus_distance_m, self.focal_length_mm)

    @property
    def aperture_diameter_mm(self) -> float:
        """Entrance pupil diameter A = f / N."""
        return self.focal_length_mm / self.f_number

    def blur_k_per_inverse_m(self, image_width_px: int) -> float:
        """CoC radius in pixels per unit of |1/z - 1/S| (1/m): the physical analogue of ``--blur K``.

        Thin lens (e.g. Potmesil & Chakravarty 1981): CoC diameter on the sensor
        ``c = A * f * |z - S| / (z * (S - f)) = A * f * S / (S - f) * |1/z - 1/S|``.
        """
        f_mm = self.focal_length_mm
        s_mm = self.focus_distance_m * 1000.0
        diameter_mm_per_inv_mm = self.aperture_diameter_mm * f_mm * s_mm / (s_mm - f_mm)  # mm per (1/mm)
        diameter_mm_per_inv_m = diameter_mm_per_inv_mm / 1000.0  # |1/z - 1/S| in 1/m = 1000 x in 1/mm
        px_per_mm = image_width_px / self.sensor_width_mm
        return 0.5 * diameter_mm_per_inv_m * px_per_mm


MAX_BLUR_K_PX = 1000.0
"""Largest K (px per unit disparity): past it every blurred pixel is at the CoC cap (MAX_COC_RADIUS_PX) anyway."""


def check_blur_k(blur_k_px: float, option: str = "--blur") -> None:
    """Raise `SettingsError` unless K is a number in [0, MAX_BLUR_K_PX] (the one blur check every job uses).

    >>> check_blur_k(8.0)
    """
    if not 0 <= blur_k_px < math.inf:
        raise SettingsError(f"{option} must be zero or positive, got {blur_k_px:g}")
    if blur_k_px > MAX_BLUR_K_PX:
        raise SettingsError(f"{option} must be between 0 and {MAX_BLUR_K_PX:g} px, got {blur_k_px:g}")


def signed_coc_px(disparity: torch.Tensor, focus_disparity: float | torch.Tensor, blur_k_px: float) -> torch.Tensor:
    """Signed circle-of-confusion radius ``K * (d - d_focus)`` in pixels (positive = nearer than focus).

    Args:
        disparity: [N,1,H,W], 1 = nearest.
        focus_disparity: scalar or [N,1,1,1].
        blur_k_px: K, CoC radius in pixels per unit disparity difference (>= 0).

    Returns:
        [N,1,H,W] signed radius in pixels, clamped to +-MAX_COC_RADIUS_PX.

    >>> import torch
    >>> signed_coc_px(torch.tensor([[[[0.0, 1.0]]]]), 0.5, 8.0).tolist()
    [[[[-4.0, 4.0]]]]
    """
    check_blur_k(blur_k_px)
    return (blur_k_px * (disparity - focus_disparity)).clamp(-MAX_COC_RADIUS_PX, MAX_COC_RADIUS_PX)


def physical_signed_coc_px(depth_m: torch.Tensor, camera: CameraSettings, image_width_px: int) -> torch.Tensor:
    """Signed thin-lens CoC radius in pixels for metric depth (positive = nearer than focus).

    Args:
        depth_m: [N,1,H,W] distance from the lens in metres (> 0).
        camera: lens and sensor.
        image_width_px: width of the rendered image; the sensor width maps onto it.

    Returns:
        [N,1,H,W] signed radius in pixels, clamped to +-MAX_COC_RADIUS_PX.
    """
    return inverse_depth_signed_coc_px(1.0 / depth_m.clamp_min(1e-6), camera, image_width_px)


def inverse_depth_signed_coc_px(
    inverse_depth_per_m: torch.Tensor, camera: CameraSettings, image_width_px: int
) -> torch.Tensor:
    """`physical_signed_coc_px` from inverse depth 1/z [N,1,H,W] in 1/m (>= 0; 0 = infinity).

    >>> import torch
    >>> coc = inverse_depth_signed_coc_px(torch.tensor([[[[0.0, 0.5]]]]), CameraSettings(2.0, 50.0, 36.0, 2.0), 360)
    >>> [round(v, 3) for v in coc.flatten().tolist()]
    [-3.205, 0.0]
    """
    k = camera.blur_k_per_inverse_m(image_width_px)
    return (k * (inverse_depth_per_m - 1.0 / camera.focus_distance_m)).clamp(-MAX_COC_RADIUS_PX, MAX_COC_RADIUS_PX)


def sensor_width_from_35mm(focal_length_mm: float, focal_length_35mm: float) -> float:
    """Sensor width implied by EXIF FocalLengthIn35mmFilm: the crop factor times 36 mm is the width.

    >>> sensor_width_from_35mm(50.0, 75.0)
    24.0
    """
    return FULL_FRAME_WIDTH_MM * focal_length_mm / focal_length_35mm


@dataclass(frozen=True)
class PartialCamera:
    """Camera settings as far as they are known (from EXIF, a preset or options); any may be missing."""

    f_number: float | None = None
    focal_length_mm: float | None = None
    sensor_width_mm: float | None = None
    focus_distance_m: float | None = None

    def overridden_by(self, other: PartialCamera) -> PartialCamera:
        """Each field of `other` that is set wins over this one's."""
        return PartialCamera(
            f_number=other.f_number if other.f_number is not None else self.f_number,
            focal_length_mm=other.focal_length_mm if other.focal_length_mm is not None else self.focal_length_mm,
            sensor_width_mm=other.sensor_width_mm if other.sensor_width_mm is not None else self.sensor_width_mm,
            focus_distance_m=(other.focus_distance_m if other.focus_distance_m is not None else self.focus_distance_m),
        )

    def check_known(self, *, default_sensor_width_mm: float = FULL_FRAME_WIDTH_MM) -> None:
        """Before any pixel work: a SettingsError naming a missing f-number or focal length (the focus distance
        can come from the depth or be assumed), and the settings' own checks when the focus distance is known.

        >>> PartialCamera(2.0, 50.0).check_known()
        >>> PartialCamera(2.0).check_known()
        Traceback (most recent call last):
        ...
        refocus_cli.errors.SettingsError: physical blur needs --focal-length (not given, and not in the photo's EXIF)
        """
        lens = (("--fnumber", self.f_number), ("--focal-length", self.focal_length_mm))
        missing = [option for option, value in lens if value is None]
        if missing:
            raise SettingsError(f"physical blur needs {', '.join(missing)} (not given, and not in the photo's EXIF)")
        if self.focus_distance_m is not None:
            self.complete(default_sensor_width_mm=default_sensor_width_mm)

    def complete(self, *, default_sensor_width_mm: float = FULL_FRAME_WIDTH_MM) -> CameraSettings:
        """All settings, or a SettingsError naming what is missing (sensor width defaults to full frame)."""
        missing = [
            option
            for option, value in (
                ("--fnumber", self.f_number),
                ("--focal-length", self.focal_length_mm),
                ("--focus-distance", self.focus_distance_m),
            )
            if value is None
        ]
        if missing:
            raise SettingsError(
                "physical blur needs " + ", ".join(missing) + " (not given, and not in the photo's EXIF)"
            )
        assert self.f_number is not None and self.focal_length_mm is not None
        assert self.focus_distance_m is not None
        return CameraSettings(
            f_number=self.f_number,
            focal_length_mm=self.focal_length_mm,
            sensor_width_mm=self.sensor_width_mm if self.sensor_width_mm is not None else default_sensor_width_mm,
            focus_distance_m=self.focus_distance_m,
        )


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def camera_from_exif(tags: Mapping[str, Any]) -> PartialCamera:
    """Camera settings from EXIF tags named as in the EXIF standard (FNumber, FocalLength, ...).

    Sensor width comes from FocalLengthIn35mmFilm; focus distance from SubjectDistance (metres).  Missing,
    zero or malformed values are left unset rather than guessed.

    >>> camera_from_exif({"FNumber": 2.8, "FocalLength": 50, "FocalLengthIn35mmFilm": 75})
    PartialCamera(f_number=2.8, focal_length_mm=50.0, sensor_width_mm=24.0, focus_distance_m=None)
    """
    f_number = _positive_float(tags.get("FNumber"))
    focal_length_mm = _positive_float(tags.get("FocalLength"))
    focal_35 = _positive_float(tags.get("FocalLengthIn35mmFilm"))
    sensor_width_mm = sensor_width_from_35mm(focal_length_mm, focal_35) if focal_length_mm and focal_35 else None
    focus_distance_m = _positive_float(tags.get("SubjectDistance"))
    if focus_distance_m is not None and focus_distance_m > 1e4:  # 0xFFFFFFFF means infinity
        focus_distance_m = None
    return PartialCamera(f_number, focal_length_mm, sensor_width_mm, focus_distance_m)
