"""Aperture kernels: normalised, the right area and shape, oriented, and usable for aperture sampling."""

from __future__ import annotations

import math

import pytest
import torch

from refocus_cli.aperture import ApertureShape, aperture_kernel, sample_aperture
from refocus_cli.errors import SettingsError


def _area_px(kernel: torch.Tensor) -> float:
    """Area of the opening in pixels: the kernel's coverage scaled so its peak pixel counts as 1."""
    return float(kernel.sum() / kernel.max())


@pytest.mark.parametrize("radius", [3.0, 7.5, 12.0])
def test_disc_kernel_has_disc_area_and_sums_to_one(radius: float) -> None:
    kernel = aperture_kernel(radius)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    assert _area_px(kernel) == pytest.approx(math.pi * radius**2, rel=0.03)
    assert torch.allclose(kernel, kernel.flip(0)) and torch.allclose(kernel, kernel.T)


@pytest.mark.parametrize("blades", [3, 5, 6, 8])
def test_polygon_kernel_area(blades: int) -> None:
    radius = 12.0
    kernel = aperture_kernel(radius, ApertureShape("polygon", blades=blades))
    expected = 0.5 * blades * radius**2 * math.sin(2 * math.pi / blades)
    assert _area_px(kernel) == pytest.approx(expected, rel=0.04)


def test_kernel_is_identity_at_zero_and_changes_continuously_with_radius() -> None:
    assert aperture_kernel(0.0).tolist() == [[1.0]]
    small = aperture_kernel(0.3)
    assert small.shape == (3, 3) and float(small[1, 1]) > 0.6
    for radius in (0.3, 0.99, 2.5, 7.2):
        a, b = aperture_kernel(radius), aperture_kernel(radius + 0.02)
        size = max(a.shape[0], b.shape[0])
        pad_a = torch.nn.functional.pad(a, [(size - a.shape[0]) // 2] * 4)
        pad_b = torch.nn.functional.pad(b, [(size - b.shape[0]) // 2] * 4)
        assert float((pad_a - pad_b).abs().sum()) < 0.05


def test_negative_radius_turns_the_shape_half_a_turn() -> None:
    shape = ApertureShape("polygon", blades=3)
    front, back = aperture_kernel(6.0, shape), aperture_kernel(-6.0, shape)
    assert not torch.allclose(front, back, atol=1e-3)
    assert torch.allclose(front, back.flip(0, 1), atol=1e-6)


def test_triangle_points_up_and_rotation_turns_it() -> None:
    kernel = aperture_kernel(10.0, ApertureShape("polygon", blades=3))
    rows = kernel.sum(dim=1)
    assert float(rows[:10].sum()) < float(rows[11:].sum())  # apex up: less mass in the upper half
    turned = aperture_kernel(10.0, ApertureShape("polygon", blades=3, rotation_deg=180.0))
    assert torch.allclose(turned, kernel.flip(0, 1), atol=1e-2)


def test_anamorphic_aspect_squeezes_width() -> None:
    kernel = aperture_kernel(10.0, ApertureShape("disc", aspect=0.5))
    columns_used = int((kernel.sum(dim=0) > 0).sum())
    rows_used = int((kernel.sum(dim=1) > 0).sum())
    assert rows_used == 21 and columns_used <= 12
    assert _area_px(kernel) == pytest.approx(math.pi * 10 * 5, rel=0.05)


def test_custom_kernel_image_is_followed() -> None:
    ring = torch.zeros(33, 33)
    yy, xx = torch.meshgrid(torch.arange(33.0) - 16, torch.arange(33.0) - 16, indexing="ij")
    distance = (xx**2 + yy**2).sqrt()
    ring[(distance > 10) & (distance < 16)] = 1.0
    kernel = aperture_kernel(8.0, ApertureShape("custom", custom=ring))
    assert float(kernel[8, 8]) == 0.0  # the hole in the middle stays dark
    assert float(kernel[8, 1]) > 0.0


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "hexagon"}, {"kind": "polygon", "blades": 2}, {"aspect": 0.0}, {"kind": "custom"}],
)
def test_bad_shapes_are_refused(kwargs: dict) -> None:
    with pytest.raises(SettingsError):
        ApertureShape(**kwargs)


def test_aperture_samples_cover_the_disc_evenly() -> None:
    points, weights = sample_aperture(2000, generator=torch.Generator().manual_seed(0))
    assert float(weights.sum()) == pytest.approx(1.0)
    assert float((points**2).sum(dim=1).max()) <= 1.0
    mean = (points * weights[:, None]).sum(dim=0)
    assert float(mean.abs().max()) < 0.02
    second_moment = float((points[:, 0] ** 2 * weights).sum())
    assert second_moment == pytest.approx(0.25, rel=0.05)  # a unit disc has E[u^2] = 1/4
