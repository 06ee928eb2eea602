"""The layered renderer: exact properties, occlusion, tiling, gradients, and fidelity against the reference."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from refocus_cli.aperture import ApertureShape, aperture_kernel
from refocus_cli.colour import linear_to_srgb
from refocus_cli.engines import render_refocus
from refocus_cli.lens import signed_coc_px
from refocus_cli.metrics import psnr
from refocus_cli.render.blocks import BLOCK, FILL_SCALE, Blocks
from refocus_cli.render.convolve import blur_layer
from refocus_cli.render.gather import render_gather
from refocus_cli.render.layered import render_layered
from refocus_cli.render.planes import LayeredSettings, plane_radii
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import Layer, LayeredScene, random_layered_scene


def _scene_with_square(front_disparity: float, back_disparity: float, size: int = 64) -> LayeredScene:
    """A red square at one depth over a textured blue-green background at another."""
    generator = torch.Generator().manual_seed(3)
    alpha = torch.zeros(1, 1, size, size)
    alpha[..., 20:44, 20:44] = 1.0
    red = torch.tensor([0.9, 0.05, 0.05]).view(1, 3, 1, 1) * alpha
    background = torch.rand(1, 3, size, size, generator=generator) * torch.tensor([0.1, 0.5, 0.6]).view(1, 3, 1, 1)
    return LayeredScene(
        (
            Layer(red, alpha, front_disparity),
            Layer(background, torch.ones(1, 1, size, size), back_disparity),
        )
    )


def test_zero_blur_returns_the_input_unchanged() -> None:
    image = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    disparity = torch.rand(1, 1, 24, 32, generator=torch.Generator().manual_seed(1))
    out = render_layered(image, signed_coc_px(disparity, 0.5, 0.0))
    assert torch.equal(out, image)


def test_in_focus_plane_is_untouched_beside_blurred_ones() -> None:
    scene = _scene_with_square(0.9, 0.1)
    image, disparity = scene.pinhole_image(), scene.disparity_map()
    out = render_layered(image, signed_coc_px(disparity, 0.9, 10.0))
    assert torch.allclose(out[..., 24:40, 24:40], image[..., 24:40, 24:40], atol=1e-5)


def test_constant_image_stays_constant() -> None:
    image = torch.full((1, 3, 40, 48), 0.37)
    disparity = torch.rand(1, 1, 40, 48, generator=torch.Generator().manual_seed(2))
    out = render_layered(image, signed_coc_px(disparity, 0.3, 16.0))
    assert torch.allclose(out, image, atol=1e-5)


def test_energy_is_conserved_away_from_borders() -> None:
    image = torch.zeros(1, 3, 64, 64)
    image[..., 28:36, 30:33] = 5.0
    image[..., 25, 40] = 9.0
    coc = torch.full((1, 1, 64, 64), -7.0)
    out = render_layered(image, coc)
    assert float(out.sum()) == pytest.approx(float(image.sum()), rel=1e-4)
    assert float(out.max()) < 1.0  # and it really spread


def test_single_plane_matches_the_aperture_kernel() -> None:
    image = torch.zeros(1, 3, 41, 41)
    image[..., 20, 20] = 1.0
    shape = ApertureShape("polygon", blades=5)
    out = render_layered(image, torch.full((1, 1, 41, 41), 3.0), shape)
    assert torch.allclose(out[0, 0, 17:24, 17:24], aperture_kernel(3.0, shape), atol=1e-6)


@pytest.mark.parametrize(("reduced_radius", "max_l1"), [(2.0, 0.35), (3.0, 0.15)])
def test_wide_plane_rendered_coarsely_keeps_the_kernel_shape(reduced_radius: float, max_l1: float) -> None:
    image = torch.zeros(1, 3, 96, 96)
    image[..., 48, 48] = 1.0
    settings = LayeredSettings(reduced_radius_px=reduced_radius)
    out = render_layered(image, torch.full((1, 1, 96, 96), 12.0), settings=settings)[0, 0]
    kernel = aperture_kernel(12.0)
    assert float(out.sum()) == pytest.approx(1.0, rel=1e-4)
    assert float((out[36:61, 36:61] - kernel).abs().sum()) < max_l1  # L1 distance of two unit-mass kernels
    assert float(out[48, 48]) > 0.5 * float(kernel[12, 12])


def test_sharp_foreground_does_not_bleed_over_blurred_background() -> None:
    scene = _scene_with_square(0.9, 0.1)
    image, disparity = scene.pinhole_image(), scene.disparity_map()
    coc = signed_coc_px(disparity, 0.9, 12.0)
    truth = render_reference(scene, 0.9, 12.0, generator=torch.Generator().manual_seed(0))
    ours, naive = render_layered(image, coc), render_gather(image, coc)
    ring = (slice(None), slice(0, 1), slice(10, 18), slice(10, 54))  # background rows just above the square
    assert float(truth[ring].max()) < 0.1  # the reference shows no red there
    assert float(ours[ring].max()) < 0.1
    assert float(naive[ring].max()) > 0.2  # the naive gather bleeds red


def test_blurred_foreground_spreads_over_sharp_background() -> None:
    scene = _scene_with_square(0.9, 0.1)
    image, disparity = scene.pinhole_image(), scene.disparity_map()
    coc = signed_coc_px(disparity, 0.1, 12.0)
    truth = render_reference(scene, 0.1, 12.0, generator=torch.Generator().manual_seed(0))
    ours, naive = render_layered(image, coc), render_gather(image, coc)
    outside = (slice(None), slice(0, 1), slice(14, 19), slice(24, 40))  # background just above the square
    assert float(truth[outside].mean()) > 0.2  # the reference spreads red over it
    assert abs(float(ours[outside].mean()) - float(truth[outside].mean())) < 0.05
    assert float(naive[outside].mean()) < 0.1  # the naive gather keeps the background sharp


def test_tiled_render_equals_whole_render() -> None:
    generator = torch.Generator().manual_seed(5)
    scene = random_layered_scene((150, 170), generator=generator)
    image, disparity = scene.pinhole_image(), scene.disparity_map()
    coc = signed_coc_px(disparity, scene.layers[1].disparity, 14.0)
    whole = render_layered(image, coc, tile_px=4096)
    tiled = render_layered(image, coc, tile_px=32)
    assert torch.allclose(whole, tiled, atol=1e-5)


def test_tiles_equal_the_whole_render_for_small_two_sided_blur() -> None:
    """Near and far of focus with radii under a pixel: the hole filling's coarse grid sets the tiles' alignment."""
    generator = torch.Generator().manual_seed(3)
    scene = random_layered_scene((70, 90), generator=generator)
    image, disparity = scene.pinhole_image(), scene.disparity_map()
    coc = signed_coc_px(disparity, 0.5, 1.5)
    assert float(coc.min()) < 0 < float(coc.max())
    whole = render_layered(image, coc, tile_px=4096)
    assert torch.allclose(render_layered(image, coc, tile_px=32), whole, atol=1e-5)


def test_gradients_flow_through_the_renderer() -> None:
    generator = torch.Generator().manual_seed(7)
    image = torch.rand(1, 3, 8, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    coc = (torch.rand(1, 1, 8, 8, generator=generator, dtype=torch.float64) * 6 - 3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: render_layered(x, coc.detach()), (image,), fast_mode=True)

    # The CoC enters through the plane weights. The planes are placed from the CoC's range, so the range is
    # pinned by two border pixels outside the part being differentiated.
    def with_pinned_range(interior: torch.Tensor) -> torch.Tensor:
        full = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
        full[..., 0, 0], full[..., 0, 1] = -4.0, 4.0
        full = full.clone()
        full[..., 1:, :] = interior
        return render_layered(image.detach(), full)

    interior = coc.detach()[..., 1:, :].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(with_pinned_range, (interior,), atol=1e-5, fast_mode=True)


def test_plane_radii_cover_the_range_with_bounded_gaps() -> None:
    settings = LayeredSettings()
    step, ratio = settings.plane_step_px, settings.plane_step_ratio
    radii = plane_radii(-20.0, 7.0, settings)
    assert radii[0] == pytest.approx(7.0) and radii[-1] == pytest.approx(-20.0) and 0.0 in radii
    gaps = [a - b for a, b in itertools.pairwise(radii)]
    assert all(0 < gap <= max(2 * step, ratio * abs(b)) + 1e-9 for gap, b in zip(gaps, radii[1:], strict=False))
    assert all(gap <= step + 1e-9 for gap, b in zip(gaps, radii[1:], strict=False) if abs(b) <= 4 * step)


def test_blur_layer_is_a_convolution_not_a_correlation() -> None:
    image = torch.zeros(1, 1, 21, 21)
    image[..., 10, 10] = 1.0
    shape = ApertureShape("polygon", blades=3)
    out = blur_layer(image, 6.0, shape)
    assert torch.allclose(out[0, 0, 4:17, 4:17], aperture_kernel(6.0, shape), atol=1e-7)


@pytest.mark.parametrize("blur", [6.0, 16.0])
def test_fidelity_beats_naive_gather_on_random_scenes(blur: float) -> None:
    for seed in range(2):
        generator = torch.Generator().manual_seed(100 + seed)
        scene = random_layered_scene((96, 128), generator=generator)
        focus = scene.layers[seed % len(scene.layers)].disparity
        truth = linear_to_srgb(render_reference(scene, focus, blur, generator=generator))
        image, coc = scene.pinhole_image(), signed_coc_px(scene.disparity_map(), focus, blur)
        ours = psnr(linear_to_srgb(render_layered(image, coc)), truth)
        naive = psnr(linear_to_srgb(render_gather(image, coc)), truth)
        assert ours > naive
        assert ours > 38.0


@pytest.mark.parametrize("halo", [0, 1, 2, 3, 4, 6])
def test_block_upsampling_equals_the_whole_grid_upsampled(halo: int) -> None:
    coarse = torch.rand(2, 4, 12, 12, generator=torch.Generator().manual_seed(halo))
    whole = torch.nn.functional.interpolate(coarse, scale_factor=FILL_SCALE, mode="bilinear", align_corners=False)
    blocks = Blocks(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([1, 0]), halo)
    got = blocks.gather_upsampled(coarse)
    assert torch.equal(got[0], whole[0, :, BLOCK - halo : 2 * BLOCK + halo, BLOCK - halo : 2 * BLOCK + halo])
    # at the grid's edge the upsampling repeats the edge, as the whole grid's does beyond it
    edge = torch.nn.functional.pad(whole[1], (halo, halo, halo, halo), mode="replicate")
    assert torch.allclose(got[1], edge[:, BLOCK : 2 * BLOCK + 2 * halo, 0 : BLOCK + 2 * halo], atol=1e-6)


CPU = torch.device("cpu")
BAR = torch.zeros(32, 32)
BAR[12:20, :] = 1.0  # a custom opening four times as wide as tall
SHAPES = [  # (opening, height/width of a point light's bokeh at half its peak, tolerance)
    (ApertureShape("polygon", blades=6), 1 / math.cos(math.pi / 6), 0.07),  # vertex up: vertex/edge extent
    (ApertureShape("polygon", blades=6, rotation_deg=90.0), math.cos(math.pi / 6), 0.06),
    (ApertureShape(aspect=0.5), 2.0, 0.2),
    (ApertureShape("custom", custom=BAR), 0.25, 0.05),
    (ApertureShape(), 1.0, 0.03),
]


@pytest.mark.parametrize("quality", ["fast", "fine"])
@pytest.mark.parametrize("radius_px", [20.0, 36.0])
@pytest.mark.parametrize(("shape", "height_over_width", "tolerance"), SHAPES)
def test_a_point_light_takes_the_opening_s_shape_at_every_quality(
    quality: str, radius_px: float, shape: ApertureShape, height_over_width: float, tolerance: float
) -> None:
    """A bright point on a dark background, blurred wide (planes on reduced grids): its bokeh's outline is
    the opening's (a hexagon 1.155 times as tall as wide, vertex up), not a disc, at fast as at fine."""
    side, centre = 112, 56
    image = torch.full((1, 3, side, side), 1e-3)
    image[..., centre, centre] = 50.0
    coc = torch.full((1, 1, side, side), radius_px)
    disparity = torch.full((1, 1, side, side), 0.5)
    out = render_refocus(
        "physics", image, disparity, coc, 0.0, radius_px, aperture=shape, quality=quality, model=None, device=CPU
    )
    lit = out[0].mean(0) > float(out[0, :, centre, centre].mean()) / 2
    height, width = int(lit[:, centre].sum()), int(lit[centre, :].sum())
    assert height / width == pytest.approx(height_over_width, abs=tolerance), (height, width)
