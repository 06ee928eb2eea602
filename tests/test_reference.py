"""The exact reference renderer and the random layered scenes it is the truth for."""

from __future__ import annotations

import pytest
import torch

from refocus_cli.aperture import ApertureShape, aperture_kernel
from refocus_cli.highlights import HighlightSettings, boost_highlights
from refocus_cli.metrics import psnr, ssim
from refocus_cli.render.convolve import blur_layer
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import Layer, LayeredScene, random_layered_scene


def test_zero_blur_reference_is_the_pinhole_image() -> None:
    scene = random_layered_scene((48, 64), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(render_reference(scene, 0.5, 0.0, samples=16), scene.pinhole_image(), atol=1e-6)


def test_single_layer_reference_is_a_convolution_with_the_aperture() -> None:
    image = torch.zeros(1, 3, 41, 41)
    image[..., 20, 20] = 1.0
    shape = ApertureShape("polygon", blades=5)
    scene = LayeredScene((Layer(image, torch.ones(1, 1, 41, 41), 1.0),))
    reference = render_reference(
        scene, 0.0, 6.0, aperture=shape, samples=3000, generator=torch.Generator().manual_seed(0)
    )
    kernel = aperture_kernel(6.0, shape)
    assert float((reference[0, 0, 14:27, 14:27] - kernel).abs().sum()) < 0.04
    assert float(reference.sum() / 3) == pytest.approx(1.0, abs=1e-4)


def test_reference_of_a_flat_textured_layer_matches_kernel_blur() -> None:
    texture = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    scene = LayeredScene((Layer(texture, torch.ones(1, 1, 48, 48), 0.8),))
    reference = render_reference(scene, 0.3, 10.0, generator=torch.Generator().manual_seed(2))
    blurred = blur_layer(texture, 5.0, ApertureShape())
    assert psnr(reference[..., 8:-8, 8:-8], blurred[..., 8:-8, 8:-8]) > 40.0


def test_random_scenes_are_reproducible_and_varied() -> None:
    first = random_layered_scene((32, 40), generator=torch.Generator().manual_seed(4))
    again = random_layered_scene((32, 40), generator=torch.Generator().manual_seed(4))
    other = random_layered_scene((32, 40), generator=torch.Generator().manual_seed(5))
    assert torch.equal(first.pinhole_image(), again.pinhole_image())
    assert not torch.equal(first.pinhole_image(), other.pinhole_image())
    assert 4 <= len(first.layers) <= 8 and float(first.layers[-1].alpha.min()) == 1.0
    disparities = [layer.disparity for layer in first.layers]
    assert disparities == sorted(disparities, reverse=True)
    assert float(first.pinhole_image().max()) > 1.0  # bright lights above white


def test_disparity_map_follows_the_front_layer() -> None:
    alpha = torch.zeros(1, 1, 8, 8)
    alpha[..., 2:6, 2:6] = 1.0
    scene = LayeredScene(
        (Layer(torch.ones(1, 3, 8, 8) * alpha, alpha, 0.9), Layer(torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 8, 8), 0.1))
    )
    disparity = scene.disparity_map()
    assert float(disparity[0, 0, 3, 3]) == pytest.approx(0.9) and float(disparity[0, 0, 0, 0]) == pytest.approx(0.1)


def test_metrics_on_known_cases() -> None:
    a = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    assert psnr(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.01)) == pytest.approx(40.0)
    assert ssim(a, torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))) < 0.2


def test_highlight_boost_only_touches_bright_blurred_pixels() -> None:
    image = torch.tensor([0.2, 0.95, 0.95]).view(1, 1, 1, 3).expand(1, 3, 1, 3).contiguous()
    coc = torch.tensor([5.0, 5.0, 0.0]).view(1, 1, 1, 3)
    boosted = boost_highlights(image, coc, HighlightSettings(boost=2.0, threshold=0.8))
    assert float(boosted[0, 0, 0, 0]) == pytest.approx(0.2)  # dark: unchanged
    assert float(boosted[0, 0, 0, 1]) > 1.0  # bright and blurred: boosted above white
    assert float(boosted[0, 0, 0, 2]) == pytest.approx(0.95)  # bright but in focus: unchanged
    assert torch.equal(boost_highlights(image, coc, HighlightSettings()), image)
