"""`refocus stack IN`: the focus sweep, the stacking constraint, the outputs, and the page in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from browser import Browser  # tests/browser.py
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.colour import linear_to_srgb
from refocus_cli.metrics import psnr
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import random_layered_scene
from refocus_cli.render.stacking import blend_stack, in_focus_masks
from refocus_cli.stack.sweep import sweep_focus_disparities


def test_sweep_spans_the_depth_present_nearest_first() -> None:
    disparity = torch.full((1, 1, 50, 50), 0.3)
    disparity[..., :10, :] = 0.8
    focus = sweep_focus_disparities(disparity, 6)
    assert focus[0] == pytest.approx(0.8) and focus[-1] == pytest.approx(0.3)
    assert focus == sorted(focus, reverse=True) and len(set(focus)) == 6
    assert sweep_focus_disparities(disparity, 1) == [pytest.approx(0.55)]


def test_frames_focused_on_each_layer_and_blended_by_in_focus_masks_give_the_all_in_focus_image() -> None:
    """DiffCamera's stacking constraint, on a scene whose truth is exact: away from occlusion edges (where a
    nearer layer's blur spills over) the blend equals the pinhole image."""
    scene = random_layered_scene((96, 128), generator=torch.Generator().manual_seed(3), max_layers=4)
    planes = torch.tensor([layer.disparity for layer in scene.layers])
    frames = torch.stack([render_reference(scene, float(d), 12.0) for d in planes], dim=1)  # [1,F,3,H,W]
    disparity = scene.disparity_map()
    blended = blend_stack(frames, in_focus_masks(disparity, planes))
    truth = scene.pinhole_image()
    edge = torch.zeros_like(disparity, dtype=torch.bool)
    for layer in scene.layers[:-1]:
        alpha = layer.alpha
        spread = torch.nn.functional.max_pool2d(alpha, 2 * 12 + 1, stride=1, padding=12)
        edge |= (spread > 0) & (alpha < 1)  # within a blur radius of a nearer layer's outline
    keep = ~edge
    assert keep.float().mean() > 0.2
    masked_psnr = psnr(linear_to_srgb(blended) * keep, linear_to_srgb(truth) * keep)
    assert masked_psnr > 45, masked_psnr
    # and the frames alone are far from it: the constraint is what makes them add up
    assert psnr(linear_to_srgb(frames[:, -1]) * keep, linear_to_srgb(truth) * keep) < masked_psnr - 10


def test_soft_masks_sum_to_one_and_harden_as_the_temperature_falls() -> None:
    disparity = torch.rand(1, 1, 8, 8)
    planes = torch.tensor([0.9, 0.5, 0.1])
    soft = in_focus_masks(disparity, planes, softness=0.05)
    assert torch.allclose(soft.sum(dim=1), torch.ones(1, 8, 8))
    hard = in_focus_masks(disparity, planes)
    assert torch.equal(in_focus_masks(disparity, planes, softness=1e-4).round(), hard)


def _two_layer_photo(folder: Path) -> tuple[Path, Path]:
    """A 96x128 photo: textured left half near (disparity 1), textured right half far (0)."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    depth = np.zeros((96, 128), np.uint8)
    depth[:, :64] = 255
    photo_path, depth_path = folder / "photo.png", folder / "depth.png"
    Image.fromarray(photo).save(photo_path)
    Image.fromarray(depth).save(depth_path)
    return photo_path, depth_path


def _sharpness(image: np.ndarray) -> float:
    grey = image.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_png_frames_and_index_sweep_from_near_to_far(tmp_path: Path) -> None:
    photo, depth = _two_layer_photo(tmp_path)
    out = tmp_path / "frames"
    result = CliRunner().invoke(
        app, ["stack", str(photo), "--depth", str(depth), "--frames", "3", "--format", "png", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    assert index["focus_disparities"] == pytest.approx([1.0, 0.5, 0.0])
    frames = [np.asarray(Image.open(out / name)) for name in index["frames"]]
    # frame 0 is focused near: the left half sharp, the right blurred; the last the other way round
    assert _sharpness(frames[0][:, :56]) > 2 * _sharpness(frames[0][:, 72:])
    assert _sharpness(frames[-1][:, 72:]) > 2 * _sharpness(frames[-1][:, :56])


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_video_and_gif_loop_there_and_back(tmp_path: Path, fmt: str) -> None:
    photo, depth = _two_layer_photo(tmp_path)
    out = tmp_path / f"sweep.{fmt}"
    result = CliRunner().invoke(
        app, ["stack", str(photo), "--depth", str(depth), "--frames", "4", "--format", fmt, "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 4
    with av.open(str(out)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 6  # 0 1 2 3 2 1, then it loops
    assert decoded[0].shape == (96, 128, 3)
    assert np.abs(decoded[1].astype(int) - decoded[5].astype(int)).mean() < 3  # the same frame, back again
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_an_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    photo, depth = _two_layer_photo(tmp_path)
    out = tmp_path / "page"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = CliRunner().invoke(app, ["stack", str(photo), "--depth", str(depth), "--format", "html", "-o", str(out)])
    assert result.exit_code == 1 and "exists; pass --overwrite" in result.output
    assert (out / "mine.txt").read_text() == "keep"


def test_the_page_shows_the_frame_focused_where_you_click(tmp_path: Path, chromium: str) -> None:
    photo, depth = _two_layer_photo(tmp_path)
    out = tmp_path / "page"
    result = CliRunner().invoke(
        app, ["stack", str(photo), "--depth", str(depth), "--frames", "5", "--format", "html", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    browser = Browser(chromium, tmp_path / "profile")
    try:
        browser.open((out / "index.html").as_uri(), ready="window.refocusReady === true && photo.complete")
        box = browser.evaluate(
            "[photo.getBoundingClientRect().x, photo.getBoundingClientRect().y, photo.width, photo.height]"
        )
        x0, y0, width, height = box
        assert width > 0 and height > 0

        def click_photo_pixel(px: float, py: float) -> int:
            browser.click(x0 + (px + 0.5) / 128 * width, y0 + (py + 0.5) / 96 * height)
            return int(browser.evaluate("photo.dataset.frame"))

        assert click_photo_pixel(100, 50) == 4  # the far half: the frame focused farthest
        assert "frame 5 of 5" in browser.evaluate("document.getElementById('status').textContent")
        assert click_photo_pixel(20, 40) == 0  # the near half: the frame focused nearest
        assert browser.evaluate("document.getElementById('focus').value") == "0"
        browser.evaluate(
            "(() => { const s = document.getElementById('focus'); s.value = '2'; "
            "s.dispatchEvent(new Event('input')); })()"
        )
        assert browser.evaluate("photo.dataset.frame") == "2"
        assert browser.evaluate("photo.getAttribute('src')").endswith("frames/002.jpg")
        loaded_width = (
            "new Promise(done => photo.complete && photo.naturalWidth ? done(photo.naturalWidth)"
            " : photo.addEventListener('load', () => done(photo.naturalWidth)))"
        )
        assert browser.evaluate(loaded_width) == 128  # the frame really loaded from file://
    finally:
        browser.close()
