"""The image pipe as a library call: focus, blur modes, EXIF camera settings, outputs and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from refocus_cli.errors import InputError, OutputError, SettingsError
from refocus_cli.focus import FocusSpec
from refocus_cli.image import ImageRequest, refocus_image_file
from refocus_cli.io.images import read_image
from refocus_cli.lens import PartialCamera


def _sharpness(pixels: np.ndarray) -> float:
    """Mean absolute horizontal gradient of an 8-bit image region."""
    return float(np.abs(np.diff(pixels.astype(float), axis=1)).mean())


@pytest.fixture
def two_plane_photo(tmp_path: Path) -> tuple[Path, Path]:
    """A 64x96 noise photo: left half near (disparity 1), right half far (disparity 0)."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    depth = np.zeros((64, 96), np.uint8)
    depth[:, :48] = 255
    Image.fromarray(depth).save(tmp_path / "depth.png")
    return tmp_path / "photo.png", tmp_path / "depth.png"


def test_focus_point_keeps_its_side_sharp_and_blurs_the_other(two_plane_photo: tuple[Path, Path]) -> None:
    photo, depth = two_plane_photo
    out = photo.with_name("out.png")
    result = refocus_image_file(
        ImageRequest(photo, out, depth, focus=FocusSpec(point_xy=(20, 30)), blur_k_px=8.0, device="cpu")
    )
    assert result.focus_disparity == pytest.approx(1.0)
    assert result.max_coc_radius_px == pytest.approx(8.0)
    with Image.open(photo) as first, Image.open(out) as second:
        before, after = np.asarray(first), np.asarray(second)
    assert after.shape == before.shape and after.dtype == np.uint8
    assert _sharpness(after[:, 4:36]) == pytest.approx(_sharpness(before[:, 4:36]), rel=0.02)
    assert _sharpness(after[:, 60:92]) < 0.3 * _sharpness(before[:, 60:92])
    record = result.to_record()
    assert record["focus_rule"] == "point" and set(record["timings_s"]) == {"read", "render", "write"}


def test_focus_box_and_focus_depth(two_plane_photo: tuple[Path, Path]) -> None:
    photo, depth = two_plane_photo
    box = refocus_image_file(
        ImageRequest(photo, photo.with_name("box.png"), depth, focus=FocusSpec(box_xywh=(60, 10, 30, 40)))
    )
    assert box.focus_disparity == pytest.approx(0.0)
    direct = refocus_image_file(
        ImageRequest(photo, photo.with_name("direct.png"), depth, focus=FocusSpec(disparity=0.5))
    )
    assert direct.focus_disparity == 0.5 and direct.max_coc_radius_px == pytest.approx(4.0)


def test_physical_mode_uses_exif_and_metric_depth(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    exif = Image.Exif()
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x829D] = 2.0  # FNumber
    exif_ifd[0x920A] = 50.0  # FocalLength, mm
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "cam.jpg", exif=exif)
    depth_m = np.full((40, 60), 4.0, np.float32)
    depth_m[:, :30] = 2.0
    np.save(tmp_path / "depth.npy", depth_m)
    request = ImageRequest(
        tmp_path / "cam.jpg",
        tmp_path / "out.jpg",
        tmp_path / "depth.npy",
        focus=FocusSpec(point_xy=(10, 20)),
        blur_k_px=None,
        camera=PartialCamera(sensor_width_mm=36.0),
    )
    result = refocus_image_file(request)
    assert result.camera is not None
    assert result.camera.f_number == 2.0 and result.camera.focal_length_mm == 50.0
    assert result.camera.focus_distance_m == pytest.approx(2.0)
    # Thin lens: A f S / (S - f) |1/z - 1/S| / 2, in px per mm of sensor (60 px / 36 mm).
    a_mm, f_mm, s_mm, z_mm = 25.0, 50.0, 2000.0, 4000.0
    expected = a_mm * f_mm * s_mm / (s_mm - f_mm) * abs(1 / z_mm - 1 / s_mm) / 2 * 60 / 36
    assert result.max_coc_radius_px == pytest.approx(expected, rel=1e-4)


def test_physical_mode_without_settings_names_what_is_missing(two_plane_photo: tuple[Path, Path]) -> None:
    photo, _ = two_plane_photo
    np.save(photo.with_name("d.npy"), np.full((64, 96), 3.0, np.float32))
    request = ImageRequest(photo, photo.with_name("o.png"), photo.with_name("d.npy"), blur_k_px=None)
    with pytest.raises(SettingsError, match="--fnumber"):
        refocus_image_file(request)


def test_physical_mode_places_relative_depth_in_metres(two_plane_photo: tuple[Path, Path]) -> None:
    photo, depth = two_plane_photo
    request = ImageRequest(photo, photo.with_name("o.png"), depth, blur_k_px=None, camera=PartialCamera(2.0, 50.0))
    result = refocus_image_file(request)
    assert result.camera is not None and result.camera.focus_distance_m == pytest.approx(1.25)  # the framing rule
    assert result.metric_depth is not None and result.metric_depth["source"] == "assumed"
    assert any("no metric depth: placed" in note for note in result.notes)


def test_sixteen_bit_stays_sixteen_bit(tmp_path: Path) -> None:
    from refocus_cli.io.images import write_image

    image = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    write_image(tmp_path / "in16.png", image, bit_depth=16)
    Image.fromarray(np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (32, 1))).save(tmp_path / "d.png")
    refocus_image_file(ImageRequest(tmp_path / "in16.png", tmp_path / "out16.png", tmp_path / "d.png"))
    assert read_image(tmp_path / "out16.png").bit_depth == 16


@pytest.mark.parametrize(
    ("focus", "message"),
    [
        (FocusSpec(point_xy=(500, 10)), "outside the image"),
        (FocusSpec(box_xywh=(80, 10, 30, 10)), "not inside the image"),
        (FocusSpec(disparity=1.5), "--focus-depth"),
    ],
)
def test_bad_focus_is_one_clear_error(two_plane_photo: tuple[Path, Path], focus: FocusSpec, message: str) -> None:
    photo, depth = two_plane_photo
    with pytest.raises((InputError, SettingsError), match=message):
        refocus_image_file(ImageRequest(photo, photo.with_name("o.png"), depth, focus=focus))


def test_missing_depth_says_what_was_tried_and_falls_back_to_two_planes(two_plane_photo: tuple[Path, Path]) -> None:
    photo, _ = two_plane_photo
    result = refocus_image_file(ImageRequest(photo, photo.with_name("o.png"), focus=FocusSpec(point_xy=(10, 10))))
    assert result.depth_source == "approximate:two-plane"
    (note,) = result.notes
    fetch = "depth model depth-anything-v2-small not available (`refocus models fetch depth-anything-v2-small` gets it)"
    assert (
        note.startswith(f"{photo}: {fetch}; the photo's own defocus not used (")
        and "the depth is an approximation" in note
    )
    assert "--depth FILE" in note and result.to_record()["notes"] == list(result.notes)


def test_never_overwrites_the_input_or_an_existing_output(two_plane_photo: tuple[Path, Path]) -> None:
    photo, depth = two_plane_photo
    original = photo.read_bytes()
    with pytest.raises(OutputError, match="overwrite an input"):
        refocus_image_file(ImageRequest(photo, photo, depth, overwrite=True))
    existing = photo.with_name("exists.png")
    existing.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="exists"):
        refocus_image_file(ImageRequest(photo, existing, depth))
    assert existing.read_bytes() == b"keep me" and photo.read_bytes() == original
    assert sorted(p.name for p in photo.parent.iterdir()) == ["depth.png", "exists.png", "photo.png"]


def test_negative_blur_is_refused_before_writing(two_plane_photo: tuple[Path, Path]) -> None:
    photo, depth = two_plane_photo
    with pytest.raises(SettingsError, match="--blur"):
        refocus_image_file(ImageRequest(photo, photo.with_name("o.png"), depth, blur_k_px=-2.0))
    assert not photo.with_name("o.png").exists()
