"""Auto-focus: the camera's recorded focal point first, else the nearest sizeable region near the centre."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.autofocus import focus_from_depth, focus_from_photo
from refocus_cli.cli import app
from refocus_cli.depth.xmp import STANDARD_SIGNATURE


def _scene(seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """A receding floor and wall, small near specks near the edges, and one clear subject; (depth, mask)."""
    rng = np.random.default_rng(seed)
    h, w = 180, 240
    yy, xx = np.mgrid[0:h, 0:w]
    disparity = 0.1 + 0.45 * (yy / h) + 0.03 * rng.random((h, w))  # floor: nearer at the bottom
    cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.3, 0.7) * h
    rx, ry = rng.uniform(0.08, 0.16) * w, rng.uniform(0.12, 0.25) * h
    subject = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    disparity[subject] = rng.uniform(0.8, 0.95)
    for _ in range(3):  # specks nearer than the subject, too small to be the subject
        sx, sy = int(rng.integers(2, 20)), int(rng.integers(2, h - 6))
        disparity[sy : sy + 3, sx : sx + 3] = 1.0
    return torch.from_numpy(disparity).float()[None, None], subject


def test_depth_rule_picks_the_subject_in_at_least_9_of_10_scenes() -> None:
    hits = 0
    for seed in range(10):
        disparity, subject = _scene(seed)
        x, y = focus_from_depth(disparity).point_xy
        hits += bool(subject[round(y), round(x)])
    assert hits >= 9, f"picked the subject in {hits} of 10 scenes"


def test_flat_depth_focuses_the_centre() -> None:
    chosen = focus_from_depth(torch.full((1, 1, 40, 60), 0.5))
    assert chosen.point_xy == (29.5, 19.5) and "centre" in chosen.rule


def _jpeg_with_gfocus(path: Path, x: str, y: str) -> None:
    xml = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:GFocus="http://ns.google.com/photos/1.0/focus/" '
        f'GFocus:FocalPointX="{x}" GFocus:FocalPointY="{y}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    segment = b"\xff\xe1" + struct.pack(">H", len(STANDARD_SIGNATURE) + len(xml) + 2) + STANDARD_SIGNATURE + xml
    path.write_bytes(jpeg[:2] + segment + jpeg[2:])


def test_recorded_focal_point_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "lensblur.jpg"
    _jpeg_with_gfocus(path, "0.25", "0.5")
    chosen = focus_from_photo(path, (40, 60))
    assert chosen is not None and chosen.point_xy == (15.0, 20.0) and "GFocus" in chosen.rule
    _jpeg_with_gfocus(path, "1.7", "junk")
    assert focus_from_photo(path, (40, 60)) is None


@pytest.mark.parametrize("with_gfocus", [False, True])
def test_json_reports_the_chosen_point_and_why(tmp_path: Path, with_gfocus: bool) -> None:
    photo, depth_path = tmp_path / "p.jpg", tmp_path / "d.png"
    if with_gfocus:
        _jpeg_with_gfocus(photo, "0.1", "0.1")
    else:
        Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(photo)
    depth = np.zeros((40, 60), np.uint8)
    depth[15:30, 20:45] = 255  # a near subject
    Image.fromarray(depth).save(depth_path)
    result = CliRunner().invoke(app, ["image", str(photo), "--depth", str(depth_path), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    x, y = record["focus_point"]
    if with_gfocus:
        assert record["focus_rule"] == "photo: GFocus focal point" and (x, y) == (6.0, 4.0)
    else:
        assert record["focus_rule"].startswith("auto: nearest sizeable region")
        assert 20 <= x < 45 and 15 <= y < 30 and record["focus_disparity"] == pytest.approx(1.0)


def _jpeg_with_subject_area(
    path: Path, area: tuple[int, ...], orientation: int = 1, pixel_x: int | None = None
) -> None:
    """A 60x40 JPEG whose EXIF holds SubjectArea (and optionally Orientation and PixelXDimension)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9214] = area
    if pixel_x is not None:
        sub[0xA002], sub[0xA003] = pixel_x, pixel_x * 40 // 60
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("area", "orientation", "pixel_x", "expected"),
    [
        ((30, 10), 1, None, (30.0, 10.0)),  # a point
        ((12, 30, 8), 1, None, (12.0, 30.0)),  # a circle: its centre
        ((45, 20, 10, 6), 1, None, (45.0, 20.0)),  # a rectangle: its centre
        ((30, 10), 6, None, (29.0, 30.0)),  # turned clockwise for display: displayed 40 wide, 60 high
        ((600, 100), 1, 1200, (30.0, 5.0)),  # EXIF in the camera's 1200-px grid, the file resized to 60
    ],
)
def test_exif_subject_area_is_the_focal_point(
    tmp_path: Path, area: tuple[int, ...], orientation: int, pixel_x: int | None, expected: tuple[float, float]
) -> None:
    path = tmp_path / "camera.jpg"
    _jpeg_with_subject_area(path, area, orientation, pixel_x)
    size_hw = (60, 40) if orientation in (5, 6, 7, 8) else (40, 60)
    chosen = focus_from_photo(path, size_hw)
    assert chosen is not None and chosen.point_xy == expected and chosen.rule == "photo: EXIF SubjectArea"


def test_subject_area_outside_the_frame_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "camera.jpg"
    _jpeg_with_subject_area(path, (500, 10))
    assert focus_from_photo(path, (40, 60)) is None
