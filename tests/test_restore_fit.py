"""The fit of a photo's own defocus (K0, d0): recovered on exact layered renders, nothing on a sharp photo,
and the EXIF lens check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from refocus_cli.io.images import jpeg_round_trip
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import Layer, LayeredScene
from refocus_cli.restore import (
    PhotoDefocus,
    estimate_photo_defocus,
    exif_blur_note,
    lens_photo_defocus,
    needs_restore,
)


def _grain(h: int, w: int, seed: int) -> torch.Tensor:
    """[1,3,H,W] linear texture: coarse blotches plus fine grain (the grain carries the blur's spectrum)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=generator), size=(h, w), mode="bilinear")
    return 0.1 + 0.4 * coarse + 0.2 * torch.rand(1, 3, h, w, generator=generator)


def _three_planes(h: int = 96, w: int = 128) -> LayeredScene:
    """Three planes side by side (thirds of the frame) at disparities 0.9, 0.6 and 0.3."""
    layers = []
    for index, disparity in enumerate((0.9, 0.6, 0.3)):
        alpha = torch.zeros(1, 1, h, w)
        alpha[..., :, index * w // 3 : (index + 1) * w // 3 if index < 2 else w] = 1.0
        if index == 2:
            alpha = torch.ones(1, 1, h, w)
        layers.append(Layer(_grain(h, w, index) * alpha, alpha, disparity))
    return LayeredScene(tuple(layers))


@pytest.mark.parametrize(("blur_k_px", "focus_layer"), [(8.0, 0), (8.0, 2), (12.0, 1)])
def test_fit_recovers_k_and_the_focus_layer(blur_k_px: float, focus_layer: int) -> None:
    scene = _three_planes()
    focus = scene.layers[focus_layer].disparity
    disparity = scene.disparity_map()
    photo = render_reference(scene, focus, blur_k_px, samples=300, generator=torch.Generator().manual_seed(0))
    fit = estimate_photo_defocus(photo, disparity)
    assert fit.k0_px == pytest.approx(blur_k_px, rel=0.15)
    assert fit.focus_disparity == pytest.approx(focus, abs=0.05)
    assert fit.reliable and needs_restore(fit, disparity)


def _right_or_unreliable(fit: PhotoDefocus, k: float, focus: float) -> bool:
    """A fit is acceptable when it is right (K0 within 30 %, d0 within 0.1) or says it is unreliable."""
    right = abs(fit.k0_px / k - 1) <= 0.3 and abs(fit.focus_disparity - focus) <= 0.1
    return right or not fit.reliable


@pytest.mark.parametrize(("blur_k_px", "focus_layer"), [(8.0, 0), (12.0, 1)])
def test_a_jpeg_photo_gets_a_right_fit_or_an_unreliable_one(blur_k_px: float, focus_layer: int) -> None:
    scene = _three_planes()
    focus = scene.layers[focus_layer].disparity
    disparity = scene.disparity_map()
    photo = render_reference(scene, focus, blur_k_px, samples=300, generator=torch.Generator().manual_seed(0))
    fit = estimate_photo_defocus(jpeg_round_trip(photo), disparity)
    assert _right_or_unreliable(fit, blur_k_px, focus)
    assert fit.reliable or not needs_restore(fit, disparity)


DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pcb-stack"


@pytest.mark.skipif(not (DATA / "pcb_001.jpg").exists(), reason="needs ../shared/data/pcb-stack")
def test_a_real_end_frame_is_never_fitted_reliably_wrong() -> None:
    from refocus_cli.fusion.fuse import fuse_stack
    from refocus_cli.io.images import read_image

    frames = []
    for path in sorted(DATA.glob("pcb_*.jpg")):
        linear = read_image(path).linear
        frames.append(F.interpolate(linear.float(), scale_factor=256 / linear.shape[-1], mode="area"))
    fused = fuse_stack(frames)  # frames become aligned; frame i is focused at disparity 1 - i / 6
    # K of the stack: 12 px (frame 0) and 8 px (frame 6) at 640 px wide, the all-in-focus image rendered to the
    # frame's focus at its best PSNR; "wrong" is the bar: d0 off by > 0.2 or K0 off by > 50 %.
    for index, focus, k in ((0, 1.0, 12 * 0.4), (6, 0.0, 8 * 0.4)):
        fit = estimate_photo_defocus(frames[index].float(), fused.disparity)
        wrong = abs(fit.focus_disparity - focus) > 0.2 or abs(fit.k0_px / k - 1) > 0.5
        assert not (fit.reliable and wrong), (index, fit)


def test_a_sharp_photo_needs_no_restore() -> None:
    scene = _three_planes()
    disparity = scene.disparity_map()
    fit = estimate_photo_defocus(scene.pinhole_image(), disparity)
    assert not fit.reliable
    assert not needs_restore(fit, disparity)


def test_needs_restore_asks_for_a_share_of_the_frame_blurred() -> None:
    disparity = torch.full((1, 1, 10, 10), 0.5)
    disparity[..., 0, 0] = 1.0  # one pixel of 100 blurred by 5 px
    assert not needs_restore(PhotoDefocus.known(10.0, 0.5), disparity)
    disparity[..., :3, :] = 1.0
    assert needs_restore(PhotoDefocus.known(10.0, 0.5), disparity)


def test_the_exif_lens_gives_k0_and_d0_in_disparity_terms() -> None:
    depth_m = torch.tensor([[[[1.0, 2.0, 4.0, 8.0]]]])
    disparity = (1 / depth_m - 0.125) / 0.875  # 1 m -> 1, 8 m -> 0
    tags = {"FNumber": 2.0, "FocalLength": 50.0, "SubjectDistance": 2.0}
    lens = lens_photo_defocus(tags, disparity, depth_m, 1000)
    assert lens is not None
    # k = A f S / (S - f) / 2 px per 1/m: 25 mm * 50 mm * 2000 / 1950 / 1000 / 2 * (1000 px / 36 mm) = 17.8
    assert lens.k0_px == pytest.approx(17.81 * 0.875, rel=1e-3)
    assert lens.focus_disparity == pytest.approx((0.5 - 0.125) / 0.875, abs=1e-6)
    agree = exif_blur_note(PhotoDefocus.known(lens.k0_px * 1.1, lens.focus_disparity), tags, disparity, depth_m, 1000)
    assert agree is not None and agree.endswith("agrees")
    off = exif_blur_note(PhotoDefocus.known(lens.k0_px * 2, lens.focus_disparity), tags, disparity, depth_m, 1000)
    assert off is not None and off.endswith("disagrees")


def test_no_exif_note_for_relative_depth_or_an_incomplete_lens() -> None:
    disparity = torch.rand(1, 1, 4, 4)
    fit = PhotoDefocus.known(10.0, 0.5)
    lens = {"FNumber": 2.0, "FocalLength": 50.0, "SubjectDistance": 2.0}
    assert exif_blur_note(fit, lens, disparity, None, 4) is None
    assert exif_blur_note(fit, {"FNumber": 2.0}, disparity, 1 + disparity, 4) is None
