"""Depth from defocus: edge blur calibration, rank correlation on a layered scene, dense map and disparity."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from refocus_cli.depth.defocus import (
    EdgeBlur,
    _disc_step_profile,
    defocus_depth,
    dense_defocus_map,
    estimate_edge_blur,
)
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import random_layered_scene


def _bench():  # the benchmark's Spearman and discontinuity mask, so the test scores as the benchmark does
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "defocus.py"
    spec = importlib.util.spec_from_file_location("defocus_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _step(radius_px: float, size: int = 72) -> torch.Tensor:
    """[1,3,size,size] a vertical step from 0.05 to 0.6 (linear) blurred by a disc of the radius."""
    profile = _disc_step_profile(radius_px, size).float()
    return (0.05 + 0.55 * profile).view(1, 1, 1, size).expand(1, 3, size, size).contiguous()


def test_step_edge_blur_is_calibrated_and_monotonic() -> None:
    estimates = []
    for radius in (2.0, 4.0, 8.0):
        blur = estimate_edge_blur(_step(radius))
        confident = blur.confidence[0, 0, 16:-16] > 0
        assert confident.any()
        estimate = float(blur.radius_px[0, 0, 16:-16][confident].median())
        assert estimate == pytest.approx(radius, rel=0.3)
        estimates.append(estimate)
    assert estimates == sorted(estimates)


def test_layered_scene_blur_ranks_with_true_defocus() -> None:
    bench = _bench()
    generator = torch.Generator().manual_seed(3)
    scene = random_layered_scene((96, 128), generator=generator)
    focus = scene.layers[0].disparity
    photo = render_reference(scene, focus, 12.0, samples=100, generator=generator)
    disparity = scene.disparity_map()
    blur = estimate_edge_blur(photo)
    edges = (blur.confidence > 0) & ~bench.near_discontinuity(disparity, 2)
    assert bench.spearman(blur.radius_px[edges], (disparity - focus).abs()[edges]) >= 0.6


def test_defocus_depth_puts_the_focused_region_nearest() -> None:
    generator = torch.Generator().manual_seed(0)
    texture = torch.rand(1, 3, 64, 96, generator=generator)
    blurred = torch.nn.functional.avg_pool2d(texture, 7, 1, 3, count_include_pad=False)
    photo = torch.cat((texture[..., :48], blurred[..., 48:]), dim=-1)
    depth = defocus_depth(photo, (20.0, 32.0))
    disparity = depth.disparity
    assert depth.source == "defocus"
    assert disparity.shape == (1, 1, 64, 96) and disparity.dtype == torch.float32
    assert float(disparity.min()) >= 0.0 and float(disparity.max()) <= 1.0
    assert float(disparity[..., 8:-8, 8:40].mean()) > float(disparity[..., 8:-8, 56:-8].mean()) + 0.3


def test_flat_image_has_no_edges_and_a_constant_map() -> None:
    flat = torch.full((1, 3, 40, 50), 0.3)
    blur = estimate_edge_blur(flat)
    assert isinstance(blur, EdgeBlur)
    assert float(blur.confidence.max()) == 0.0
    dense = dense_defocus_map(blur, flat)
    assert dense.shape == (1, 1, 40, 50) and float(dense.max() - dense.min()) == 0.0
    assert torch.equal(defocus_depth(flat, None).disparity, torch.full((1, 1, 40, 50), 0.5))


# ----------------------------------------------------------------------------------------------- through the CLI


def _half_blurred_photo(folder: Path) -> Path:
    """Left half sharp noise, right half the same noise blurred by a 6 px disc: depth from defocus has work."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(1)
    sharp = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    kernel = np.zeros((13, 13), np.float32)
    cv2.circle(kernel, (6, 6), 6, 1.0, -1)
    blurred = cv2.filter2D(sharp, -1, kernel / kernel.sum())
    photo = np.concatenate([sharp[:, :48], blurred[:, 48:]], axis=1)
    path = folder / "half.png"
    Image.fromarray(photo).save(path)
    return path


def test_cli_depth_defocus_puts_the_sharp_half_nearest(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from refocus_cli.cli import app

    photo = _half_blurred_photo(tmp_path)
    out = tmp_path / "o.png"
    result = CliRunner().invoke(
        app,
        ["image", str(photo), "--depth", "defocus", "--focus", "20,30", "--save-depth-npy", "--json", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["depth_source"] == "defocus"
    disparity = np.load(tmp_path / "o-depth.npy")
    assert disparity[:, 8:40].mean() > disparity[:, 56:88].mean() + 0.3


def test_auto_skips_defocus_on_a_sharp_photo(tmp_path: Path) -> None:
    from PIL import Image

    from refocus_cli.image import ImageRequest, refocus_image_file

    photo = tmp_path / "sharp.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(photo)
    result = refocus_image_file(ImageRequest(photo, tmp_path / "o.png"))
    assert result.depth_source == "approximate:two-plane"
    assert "the photo's own defocus not used (" in result.notes[0]
