"""Depth files: every format round trips, kind conversions against hand-computed values, resize, NaN fill, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.errors import InputError
from refocus_cli.io.depth_files import fill_holes, read_depth_file, read_pfm

ASYMMETRIC = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]], np.float32)  # no flip or transpose maps it to itself


def write_pfm(path: Path, values: np.ndarray, *, little_endian: bool) -> None:
    """PFM writer for the tests: rows bottom to top, scale sign gives the byte order."""
    colour = values.ndim == 3
    height, width = values.shape[:2]
    header = f"{'PF' if colour else 'Pf'}\n{width} {height}\n{-1.0 if little_endian else 1.0}\n".encode()
    data = np.ascontiguousarray(values[::-1], dtype="<f4" if little_endian else ">f4").tobytes()
    path.write_bytes(header + data)


def as_list(tensor: torch.Tensor | None) -> list[float]:
    assert tensor is not None
    return [round(v, 6) for v in tensor.flatten().tolist()]


# ---------------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize("little_endian", [True, False])
def test_pfm_round_trips_in_both_byte_orders(tmp_path: Path, little_endian: bool) -> None:
    path = tmp_path / "disp.pfm"
    write_pfm(path, ASYMMETRIC, little_endian=little_endian)
    np.testing.assert_array_equal(read_pfm(path), ASYMMETRIC)  # top row first
    depth = read_depth_file(path)  # auto: PFM holds disparity (Middlebury)
    assert depth.metric_depth_m is None
    assert as_list(depth.disparity) == as_list(torch.from_numpy((ASYMMETRIC - 1.0) / 5.5))


def test_pfm_header_on_one_line_and_colour_with_equal_channels(tmp_path: Path) -> None:
    path = tmp_path / "colour.pfm"
    colour = np.repeat(ASYMMETRIC[:, :, None], 3, axis=2)
    data = np.ascontiguousarray(colour[::-1], dtype="<f4").tobytes()
    path.write_bytes(b"PF 3 2 -1.0\n" + data)
    assert read_pfm(path).shape == (2, 3, 3)
    assert read_depth_file(path).disparity.shape == (1, 1, 2, 3)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"P6\n3 2\n255\n" + bytes(18), "not a PFM file"),
        (b"Pf\n3 2\n-1.0\n" + bytes(10), "corrupt or truncated PFM file"),
    ],
)
def test_bad_pfm_is_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.pfm"
    path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(f"{path}: {problem}")):
        read_depth_file(path)


def test_8_bit_png_is_disparity(tmp_path: Path) -> None:
    path = tmp_path / "disp.png"
    Image.fromarray(np.array([[0, 51], [102, 255]], np.uint8)).save(path)
    depth = read_depth_file(path)
    assert depth.disparity.shape == (1, 1, 2, 2) and depth.disparity.dtype == torch.float32
    assert as_list(depth.disparity) == [0.0, 0.2, 0.4, 1.0]
    assert depth.metric_depth_m is None
    assert depth.source == f"file:{path}"


def test_16_bit_png_is_disparity_at_full_precision(tmp_path: Path) -> None:
    path = tmp_path / "disp16.png"
    Image.fromarray(np.array([[1000, 1001], [1002, 2000]], np.uint16)).save(path)
    assert as_list(read_depth_file(path).disparity) == [0.0, 0.001, 0.002, 1.0]


def test_grey_jpeg_stored_as_rgb_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "disp.jpg"
    grey = np.repeat(np.linspace(0, 255, 64).reshape(8, 8).astype(np.uint8)[:, :, None], 3, axis=2)
    Image.fromarray(grey).save(path, quality=95)
    disparity = read_depth_file(path).disparity
    assert disparity[0, 0, 0, 0].item() < 0.05 and disparity[0, 0, -1, -1].item() > 0.95


def test_float_tiff_is_metric_depth(tmp_path: Path) -> None:
    path = tmp_path / "depth.tif"
    Image.fromarray(np.array([[1.0, 2.0, 4.0]], np.float32)).save(path)
    depth = read_depth_file(path)
    # 1/z = [1, 0.5, 0.25]; d = (1/z - 1/4) / (1/1 - 1/4)
    assert as_list(depth.disparity) == [1.0, round(1 / 3, 6), 0.0]
    assert as_list(depth.metric_depth_m) == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("shape", [(2, 3), (1, 2, 3), (2, 3, 1)])
def test_npy_is_metric_depth_in_accepted_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "depth.npy"
    np.save(path, (ASYMMETRIC).reshape(shape))
    depth = read_depth_file(path)
    assert depth.disparity.shape == (1, 1, 2, 3)
    assert as_list(depth.metric_depth_m) == as_list(torch.from_numpy(ASYMMETRIC))
    expected = (1 / ASYMMETRIC - 1 / 6.5) / (1 / 1.0 - 1 / 6.5)
    assert as_list(depth.disparity) == as_list(torch.from_numpy(expected))


def test_integer_npy_is_read(tmp_path: Path) -> None:
    path = tmp_path / "depth.npy"
    np.save(path, np.array([[1, 2], [4, 4]], np.int32))
    assert as_list(read_depth_file(path).disparity) == [1.0, round(1 / 3, 6), 0.0, 0.0]


# ------------------------------------------------------------------------------------------------------- kinds


def test_kind_disparity_on_a_float_file_normalises_it(tmp_path: Path) -> None:
    path = tmp_path / "disp.npy"
    np.save(path, np.array([[-2.0, 0.0, 6.0]]))  # disparity may be negative: only its order matters
    depth = read_depth_file(path, kind="disparity")
    assert as_list(depth.disparity) == [0.0, 0.25, 1.0]
    assert depth.metric_depth_m is None


def test_kind_depth_on_an_integer_image_has_no_metric_depth(tmp_path: Path) -> None:
    path = tmp_path / "depth_mm.png"
    Image.fromarray(np.array([[1000, 2000, 4000]], np.uint16)).save(path)  # millimetres, say
    depth = read_depth_file(path, kind="depth")
    assert as_list(depth.disparity) == [1.0, round(1 / 3, 6), 0.0]  # unit-free
    assert depth.metric_depth_m is None


def test_kind_depth_on_pfm_keeps_metres(tmp_path: Path) -> None:
    path = tmp_path / "depth.pfm"
    write_pfm(path, np.array([[2.0, 4.0]], np.float32), little_endian=True)
    depth = read_depth_file(path, kind="depth")
    assert as_list(depth.disparity) == [1.0, 0.0]
    assert as_list(depth.metric_depth_m) == [2.0, 4.0]


def test_constant_map_is_one_plane_at_half(tmp_path: Path) -> None:
    for name, kind in (("flat.npy", "depth"), ("flat2.npy", "disparity")):
        np.save(tmp_path / name, np.full((3, 4), 2.5))
        assert as_list(read_depth_file(tmp_path / name, kind=kind).disparity) == [0.5] * 12


def test_zero_depth_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "disp.npy"
    np.save(path, np.array([[0.0, 1.0], [2.0, 3.0]]))
    message = "depth map has values <= 0; is it a disparity map? pass --depth-kind disparity"
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        read_depth_file(path)
    assert as_list(read_depth_file(path, kind="disparity").disparity) == [0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0]


def test_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        read_depth_file(tmp_path / "x.png", kind="inverse")


# --------------------------------------------------------------------------------------------------- NaN fill


def test_nan_is_filled_from_its_neighbours(tmp_path: Path) -> None:
    values = np.ones((4, 4))
    values[:, 2:] = 2.0
    values[1, 1] = np.nan  # its 2x2 block holds only 1.0s
    values[2, 3] = np.inf
    path = tmp_path / "holes.npy"
    np.save(path, values)
    depth = read_depth_file(path)
    assert depth.metric_depth_m is not None and bool(torch.isfinite(depth.metric_depth_m).all())
    assert depth.metric_depth_m[0, 0, 1, 1].item() == 1.0
    assert depth.metric_depth_m[0, 0, 2, 3].item() == 2.0
    assert depth.metric_depth_m[0, 0, 0, 0].item() == 1.0  # valid values untouched


def test_wide_hole_in_a_constant_region_takes_the_constant() -> None:
    values = torch.full((1, 1, 9, 13), 3.0)
    valid = torch.ones(1, 1, 9, 13, dtype=torch.bool)
    valid[..., 2:7, 3:11] = False
    values[~valid] = -100.0
    filled = fill_holes(values, valid)
    assert torch.equal(filled, torch.full_like(filled, 3.0))


def test_hole_fill_uses_the_nearer_side() -> None:
    values = torch.tensor([[[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0]]]])
    valid = values != 0
    filled = fill_holes(values, valid).flatten().tolist()
    assert filled[:3] == [1.0, 1.0, 1.0] and filled[-3:] == [5.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("invalid_count", "problem"),
    [(8, "depth map is mostly invalid (50% of values are NaN or infinite)"), (16, "depth map has no valid values")],
)
def test_mostly_invalid_maps_are_refused(tmp_path: Path, invalid_count: int, problem: str) -> None:
    values = np.ones(16)
    values[:invalid_count] = np.nan
    path = tmp_path / "holes.npy"
    np.save(path, values.reshape(4, 4))
    with pytest.raises(InputError, match=re.escape(f"{path}: {problem}")):
        read_depth_file(path)


# ------------------------------------------------------------------------------------------------------ resize


def test_resize_to_the_image_is_bilinear(tmp_path: Path) -> None:
    path = tmp_path / "depth.npy"
    np.save(path, ASYMMETRIC[:, :2])  # 2x2
    depth = read_depth_file(path, size_hw=(4, 4))
    assert depth.disparity.shape == (1, 1, 4, 4)
    assert depth.metric_depth_m is not None and depth.metric_depth_m.shape == (1, 1, 4, 4)
    source = torch.from_numpy(ASYMMETRIC[:, :2]).view(1, 1, 2, 2)
    expected = F.interpolate(source, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(depth.metric_depth_m, expected)
    assert depth.disparity.min().item() >= 0.0 and depth.disparity.max().item() <= 1.0


def test_small_aspect_difference_is_resized(tmp_path: Path) -> None:
    path = tmp_path / "disp.png"
    Image.new("L", (100, 50)).save(path)
    assert read_depth_file(path, size_hw=(50, 101)).disparity.shape == (1, 1, 50, 101)


def test_aspect_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "disp.png"
    Image.new("L", (4, 2)).save(path)
    message = "depth map is 4x2 but the image is 4x4 (aspect ratios differ)"
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        read_depth_file(path, size_hw=(4, 4))


# ------------------------------------------------------------------------------------------------- wrong files


def test_colour_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "colour.png"
    Image.new("RGB", (4, 4), (200, 30, 30)).save(path)
    message = "depth map has colour channels that differ; expected a single-channel depth or disparity map"
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        read_depth_file(path)


def test_colour_pfm_with_differing_channels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "colour.pfm"
    write_pfm(path, np.stack([ASYMMETRIC, ASYMMETRIC * 2, ASYMMETRIC], axis=2), little_endian=True)
    with pytest.raises(InputError, match="colour channels that differ"):
        read_depth_file(path)


def test_bad_npy_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rgb.npy"
    np.save(path, np.ones((2, 3, 3)))
    with pytest.raises(InputError, match=re.escape("depth array has shape (2, 3, 3)")):
        read_depth_file(path)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.png", None, "no such file"),
        ("missing.npy", None, "no such file"),
        ("missing.pfm", None, "no such file"),
        ("text.png", b"not a picture", "not an image (or a format we cannot read)"),
        ("text.npy", b"not an array", "not a NumPy .npy array (or a corrupt one)"),
        ("text.tif", b"", "not an image (or a format we cannot read)"),
    ],
)
def test_unreadable_files_name_the_path(tmp_path: Path, name: str, content: bytes | None, problem: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(f"{path}: {problem}")):
        read_depth_file(path)


def test_folder_is_refused(tmp_path: Path) -> None:
    for name in ("dir.png", "dir.npy", "dir.pfm"):
        (tmp_path / name).mkdir()
        with pytest.raises(InputError, match=re.escape(f"{tmp_path / name}: is a folder")):
            read_depth_file(tmp_path / name)


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=re.escape(f"{path}: not a NumPy .npy array")):
        read_depth_file(path)
