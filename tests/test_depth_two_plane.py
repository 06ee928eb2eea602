"""The last-resort depth: a photo with no depth anywhere still gets a portrait-style result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from refocus_cli.depth.two_plane import SOURCE, SubjectHint, two_plane_depth
from refocus_cli.focus import FocusSpec
from refocus_cli.image import ImageRequest, refocus_image_file


def _subject_photo(path: Path) -> np.ndarray:
    """A textured red disc (the subject) before a textured grey-green background; returns the subject mask."""
    rng = np.random.default_rng(0)
    h, w = 160, 240
    yy, xx = np.mgrid[0:h, 0:w]
    subject = (xx - 120) ** 2 + (yy - 85) ** 2 <= 45**2
    background = 90 + 70 * rng.random((h, w, 1)) * np.array([0.6, 1.0, 0.7])
    red = np.array([200, 40, 40]) + 50 * (rng.random((h, w, 1)) - 0.5)
    pixels = np.where(subject[..., None], red, background).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return subject


def _sharpness(pixels: np.ndarray, mask: np.ndarray) -> float:
    grad = np.abs(np.diff(pixels.astype(float), axis=1)).sum(axis=2)
    return float(grad[mask[:, 1:] & mask[:, :-1]].mean())


def test_subject_stays_sharp_and_background_blurs(tmp_path: Path) -> None:
    photo, out = tmp_path / "portrait.png", tmp_path / "out.png"
    subject = _subject_photo(photo)
    result = refocus_image_file(ImageRequest(photo, out, focus=FocusSpec(point_xy=(120, 85)), blur_k_px=8.0))
    assert result.depth_source == SOURCE and result.notes
    yy, xx = np.mgrid[0:160, 0:240]
    inner = (xx - 120) ** 2 + (yy - 85) ** 2 <= 38**2
    far_background = ((xx - 120) ** 2 + (yy - 85) ** 2 >= 60**2) & (yy < 120)
    with Image.open(photo) as before_image, Image.open(out) as after_image:
        before, after = np.asarray(before_image), np.asarray(after_image)
    assert abs(_sharpness(after, inner) / _sharpness(before, inner) - 1.0) <= 0.10
    assert _sharpness(after, far_background) <= 0.5 * _sharpness(before, far_background)
    assert subject.any()


def test_segmentation_finds_the_subject_under_the_point(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    subject = _subject_photo(photo)
    with Image.open(photo) as image:
        linear = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1)[None] ** 2.2
    depth = two_plane_depth(linear, SubjectHint((120, 85)))
    disparity = depth.disparity[0, 0].numpy()
    assert depth.source == SOURCE and depth.metric_depth_m is None
    inside = disparity[subject].mean()
    outside = disparity[~subject]
    assert inside > 0.9 and outside.max() < 0.9  # the subject is the nearest plane
    top, bottom = disparity[:10][~subject[:10]].mean(), disparity[-10:][~subject[-10:]].mean()
    assert top < bottom  # the background recedes towards the top


@pytest.mark.parametrize("hw", [(1, 1), (1, 2), (2, 1), (3, 3), (5, 7)])
def test_tiny_photo_gets_a_two_plane_depth_of_its_size(hw: tuple[int, int]) -> None:
    depth = two_plane_depth(torch.rand(1, 3, *hw), SubjectHint((0.0, 0.0)))
    assert depth.disparity.shape == (1, 1, *hw) and bool(torch.isfinite(depth.disparity).all())


def test_grabcut_without_a_colour_model_takes_its_box(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    def refuse(*args: object) -> None:
        raise cv2.error("no samples")

    monkeypatch.setattr(cv2, "grabCut", refuse)
    depth = two_plane_depth(torch.rand(1, 3, 20, 30), SubjectHint((15.0, 10.0)))
    assert depth.disparity.shape == (1, 1, 20, 30) and float(depth.disparity[0, 0, 10, 15]) == 1.0
