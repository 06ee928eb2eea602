"""Restore: fitting the photo's own blur, deconvolving it per depth layer, and leaving sharp photos alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from refocus_cli.aperture import ApertureShape
from refocus_cli.colour import linear_to_srgb
from refocus_cli.lens import signed_coc_px
from refocus_cli.metrics import psnr
from refocus_cli.render.convolve import blur_layer
from refocus_cli.render.layered import render_layered
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import Layer, LayeredScene
from refocus_cli.restore import (
    DeconvolveSettings,
    PhotoDefocus,
    deconvolve_layers,
    deconvolve_layers_hqs,
    fit_photo_defocus,
    hqs_deconvolve,
    masked_deconvolve,
    needs_restore,
    restore_all_in_focus,
)
from refocus_cli.restore.layers import layer_radii, radius_shares
from refocus_cli.restore.shrink import shrink


def _texture(h: int, w: int, seed: int) -> torch.Tensor:
    """[1,3,H,W] linear colour with edges at several scales: coarse noise upsampled with nearest neighbours."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 4, w // 4, generator=generator)
    return 0.05 + 0.6 * F.interpolate(coarse, size=(h, w), mode="nearest")


def test_fit_recovers_the_lens_from_observations_with_outliers() -> None:
    generator = torch.Generator().manual_seed(0)
    disparity = torch.rand(2000, generator=generator)
    radius = 14.0 * (disparity - 0.35).abs() + 0.2 * torch.randn(2000, generator=generator)
    outliers = torch.rand(2000, generator=generator) < 0.2
    radius = torch.where(outliers, 20.0 * torch.rand(2000, generator=generator), radius)
    fit = fit_photo_defocus(disparity, radius, torch.ones(2000))
    assert fit.k0_px == pytest.approx(14.0, rel=0.1)
    assert fit.focus_disparity == pytest.approx(0.35, rel=0.1)


def test_fit_without_evidence_undoes_nothing() -> None:
    fit = fit_photo_defocus(torch.rand(10), torch.rand(10), torch.zeros(10))
    assert fit.k0_px == 0.0
    assert not needs_restore(fit, torch.rand(1, 1, 4, 4))


def test_shrinkage_solves_the_hyper_laplacian_step() -> None:
    values = torch.linspace(-3.0, 3.0, 61)
    candidates = torch.linspace(-4.0, 4.0, 80001)
    for alpha, beta in ((0.5, 4.0), (0.8, 30.0)):

        def cost(w: torch.Tensor, alpha: float = alpha, beta: float = beta) -> torch.Tensor:
            return w.abs() ** alpha + 0.5 * beta * (w - values[:, None]) ** 2

        best = cost(candidates[None, :]).min(dim=1).values
        ours = cost(shrink(values, beta, alpha)[:, None])[:, 0]
        assert bool((ours <= best + 2e-3).all())  # 2e-3: the table's resolution near the threshold


def test_deconvolving_a_disc_blur_with_its_radius_brings_detail_back() -> None:
    sharp = _texture(64, 96, seed=1)
    blurred = blur_layer(sharp, 4.0, ApertureShape())
    restored = masked_deconvolve(blurred, 4.0, torch.ones(1, 1, 64, 96), prior_weight=1e-3, iterations=40)
    before = psnr(linear_to_srgb(blurred), linear_to_srgb(sharp))
    after = psnr(linear_to_srgb(restored), linear_to_srgb(sharp))
    assert after > before + 3.0  # measured: about 20.9 -> 28 dB


def test_half_quadratic_splitting_brings_detail_back() -> None:
    sharp = _texture(64, 96, seed=1)
    blurred = blur_layer(sharp, 4.0, ApertureShape())
    before = psnr(linear_to_srgb(blurred), linear_to_srgb(sharp))
    after = psnr(linear_to_srgb(hqs_deconvolve(blurred, 4.0)), linear_to_srgb(sharp))
    assert after > before + 3.0


def test_deconvolution_does_not_wrap_around_the_borders() -> None:
    image = torch.full((1, 3, 48, 64), 0.2)
    image[..., :, :8] = 0.8  # a bright band on the left edge only
    blurred = blur_layer(image, 3.0, ApertureShape())
    restored = hqs_deconvolve(blurred, 3.0)
    assert float((restored[..., :, -12:] - 0.2).abs().max()) < 0.02  # the right edge sees nothing of it


def test_layer_radii_follow_the_radius_map_and_shares_sum_to_one() -> None:
    radius = torch.tensor([0.2, 0.9, 2.0, 2.0, 5.0, 5.2, 30.0]).view(1, 1, 1, 7)
    radii = layer_radii(radius, 1.0, 1.5)
    assert radii[0] == 2.0 and radii[-1] == 30.0 and radii == sorted(set(radii))
    shares = radius_shares(radius, radii, 1.0)
    assert torch.allclose(sum(shares), torch.ones_like(radius))
    assert float(shares[0][..., 0]) == 1.0  # sharp pixels keep the photo


def test_a_sharp_image_under_auto_is_left_untouched() -> None:
    image = _texture(64, 96, seed=2)
    disparity = torch.linspace(0, 1, 96).view(1, 1, 1, 96).expand(1, 1, 64, 96).contiguous()
    result = restore_all_in_focus(image, disparity)
    assert not result.restored
    assert result.all_in_focus is image
    assert result.residual_radius_px is not None and result.residual_radius_px.shape == disparity.shape


def test_restore_output_is_finite_and_in_range() -> None:
    image = _texture(64, 96, seed=3)
    image[..., 30:32, 40:42] = 8.0  # a bright light
    disparity = (torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(4)) > 0.5).float() * 0.6
    settings = DeconvolveSettings(iterations=30)
    restored = deconvolve_layers(blur_layer(image, 3.0, ApertureShape()), disparity, 10.0, 0.3, settings)
    assert restored.shape == image.shape
    assert bool(torch.isfinite(restored).all())
    assert float(restored.min()) >= 0.0


def test_hqs_layers_output_is_finite_and_in_range_and_reports_the_blur_left() -> None:
    image = _texture(64, 96, seed=3)
    image[..., 30:32, 40:42] = 8.0  # a bright light
    disparity = (torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(4)) > 0.5).float() * 0.6
    done = deconvolve_layers_hqs(blur_layer(image, 3.0, ApertureShape()), disparity, 10.0, 0.3)
    assert done.image.shape == image.shape
    assert bool(torch.isfinite(done.image).all())
    assert float(done.image.min()) >= 0.0
    photo_radius = (10.0 * (disparity - 0.3)).abs()
    assert done.residual_radius_px.shape == disparity.shape
    assert bool((done.residual_radius_px >= 0).all()) and bool((done.residual_radius_px <= photo_radius + 1e-5).all())


def test_hqs_layers_deconvolve_a_uniformly_blurred_photo_and_say_so() -> None:
    sharp = _texture(64, 96, seed=7)
    photo = blur_layer(sharp, 4.0, ApertureShape())
    done = deconvolve_layers_hqs(photo, torch.full((1, 1, 64, 96), 0.5), 8.0, 0.0)
    before = psnr(linear_to_srgb(photo), linear_to_srgb(sharp))
    after = psnr(linear_to_srgb(done.image), linear_to_srgb(sharp))
    assert after > before + 2.0  # measured: 18.5 -> 21.0 dB
    assert float(done.residual_radius_px[..., 16:-16, 16:-16].mean()) < 1.0  # trusted: little blur left


def _two_layer_scene() -> LayeredScene:
    h, w = 64, 96
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    alpha = (((yy - 32) ** 2 + (xx - 30) ** 2) < 18**2).float()[None, None]
    near = Layer(_texture(h, w, seed=5) * alpha, alpha, 0.9)
    far = Layer(_texture(h, w, seed=6), torch.ones(1, 1, h, w), 0.1)
    return LayeredScene((near, far))


def test_restore_helps_to_bring_a_blurred_layer_into_focus() -> None:
    scene, blur = _two_layer_scene(), 12.0  # the far layer is 9.6 px out of focus in the photo
    photo = render_reference(scene, 0.9, blur, samples=400, generator=torch.Generator().manual_seed(0))
    truth = linear_to_srgb(render_reference(scene, 0.1, blur, samples=400, generator=torch.Generator().manual_seed(1)))
    disparity = scene.disparity_map()
    coc = signed_coc_px(disparity, 0.1, blur)
    restored = restore_all_in_focus(photo, disparity, photo_defocus=PhotoDefocus.known(blur, 0.9))
    off = psnr(linear_to_srgb(render_layered(photo, coc)), truth)
    on = psnr(linear_to_srgb(render_layered(restored.all_in_focus, coc)), truth)
    assert restored.restored
    assert on > off + 1.0


@pytest.mark.parametrize("mode", ["off", "auto", "on"])
def test_cli_restore_modes_report_what_they_did(mode: str, photo_with_depth: tuple[Path, Path]) -> None:
    import json

    from typer.testing import CliRunner

    from refocus_cli.cli import app

    photo, depth = photo_with_depth
    out = photo.with_name(f"o-{mode}.png")
    result = CliRunner().invoke(
        app, ["image", str(photo), "--depth", str(depth), "--restore", mode, "--json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    if mode == "off":
        assert record["restore"] is None and "restore" not in record["timings_s"]
    else:
        assert record["restore"]["mode"] == mode and isinstance(record["restore"]["restored"], bool)
        assert record["restore"]["photo_blur_k_px"] >= 0
    assert out.exists()
