"""Circle of confusion: the relative formula and the thin-lens physical mode against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from refocus_cli.errors import SettingsError
from refocus_cli.lens import (
    CameraSettings,
    PartialCamera,
    camera_from_exif,
    physical_signed_coc_px,
    sensor_width_from_35mm,
    signed_coc_px,
)


def test_relative_coc_is_k_times_disparity_difference() -> None:
    disparity = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 1, 4)
    coc = signed_coc_px(disparity, 0.5, 8.0)
    assert coc.flatten().tolist() == [-4.0, -2.0, 0.0, 4.0]


def test_negative_blur_is_refused() -> None:
    with pytest.raises(SettingsError, match="--blur"):
        signed_coc_px(torch.zeros(1, 1, 2, 2), 0.5, -1.0)


def test_physical_coc_matches_thin_lens_by_hand() -> None:
    # 50 mm f/2 on a 36 mm wide sensor imaged to 3600 px (100 px/mm), focused at 2 m; object at 4 m.
    camera = CameraSettings(f_number=2.0, focal_length_mm=50.0, sensor_width_mm=36.0, focus_distance_m=2.0)
    aperture_mm = 25.0
    s, z, f = 2000.0, 4000.0, 50.0
    diameter_mm = aperture_mm * f * abs(z - s) / (z * (s - f))  # 0.3205 mm on the sensor
    expected_radius_px = diameter_mm / 2 * 100.0
    coc = physical_signed_coc_px(torch.full((1, 1, 1, 1), 4.0), camera, image_width_px=3600)
    assert float(coc) == pytest.approx(-expected_radius_px, rel=1e-6)  # farther than focus: negative
    nearer = physical_signed_coc_px(torch.full((1, 1, 1, 1), 1.0), camera, image_width_px=3600)
    expected_near = aperture_mm * f * abs(1000.0 - s) / (1000.0 * (s - f)) / 2 * 100.0
    assert float(nearer) == pytest.approx(expected_near, rel=1e-6)
    in_focus = physical_signed_coc_px(torch.full((1, 1, 1, 1), 2.0), camera, image_width_px=3600)
    assert float(in_focus) == pytest.approx(0.0, abs=1e-9)


def test_physical_coc_scales_with_aperture_and_resolution() -> None:
    depth = torch.full((1, 1, 1, 1), 10.0)
    wide = CameraSettings(1.4, 85.0, 36.0, 3.0)
    narrow = CameraSettings(2.8, 85.0, 36.0, 3.0)
    ratio = float(physical_signed_coc_px(depth, wide, 6000) / physical_signed_coc_px(depth, narrow, 6000))
    assert ratio == pytest.approx(2.0)
    half = float(physical_signed_coc_px(depth, wide, 3000) / physical_signed_coc_px(depth, wide, 6000))
    assert half == pytest.approx(0.5)


def test_sensor_width_from_35mm_equivalent() -> None:
    assert sensor_width_from_35mm(4.25, 26.0) == pytest.approx(36.0 * 4.25 / 26.0)


def test_camera_from_exif_reads_and_skips_bad_values() -> None:
    camera = camera_from_exif({"FNumber": 1.8, "FocalLength": 6.9, "FocalLengthIn35mmFilm": 26, "SubjectDistance": 1.5})
    assert camera.f_number == 1.8
    assert camera.sensor_width_mm == pytest.approx(36 * 6.9 / 26)
    assert camera.focus_distance_m == 1.5
    empty = camera_from_exif({"FNumber": 0, "FocalLength": "junk", "SubjectDistance": 4294967295})
    assert empty == PartialCamera()


def test_partial_camera_names_what_is_missing() -> None:
    with pytest.raises(SettingsError, match=r"--focal-length.*--focus-distance"):
        PartialCamera(f_number=2.0).complete()
    done = PartialCamera(f_number=2.0).overridden_by(PartialCamera(focal_length_mm=50.0, focus_distance_m=3.0))
    assert done.complete().sensor_width_mm == 36.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ((0.0, 50.0, 36.0, 2.0), "--fnumber"),
        ((2.0, -5.0, 36.0, 2.0), "--focal-length"),
        ((2.0, 50.0, 0.0, 2.0), "--sensor-width"),
        ((2.0, 50.0, 36.0, 0.01), "--focus-distance"),
    ],
)
def test_bad_camera_settings_are_refused(settings: tuple[float, float, float, float], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        CameraSettings(*settings)


def test_blur_k_of_camera_is_consistent_with_inverse_depth() -> None:
    camera = CameraSettings(2.0, 50.0, 36.0, 2.0)
    k = camera.blur_k_per_inverse_m(3600)
    coc = physical_signed_coc_px(torch.full((1, 1, 1, 1), 4.0), camera, 3600)
    assert float(coc) == pytest.approx(k * (1 / 4.0 - 1 / 2.0))
    assert math.isfinite(k) and k > 0
