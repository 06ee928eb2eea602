"""Image reading and writing: bit depth, sRGB, orientation, metadata, every bad input, atomic output."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageOps

from refocus_cli.colour import srgb_to_linear
from refocus_cli.errors import InputError, OutputError
from refocus_cli.io import image_writer, images
from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.images import (
    encode_srgb,
    orient,
    output_bit_depth,
    png16_bytes,
    read_image,
    tiff_bytes,
    write_image,
)

ORIENTATION = 0x0112
EXIF_IFD = 0x8769


def codes_to_linear(codes: np.ndarray, bit_depth: int) -> torch.Tensor:
    """[H,W,3] integer sRGB codes -> [1,3,H,W] linear light."""
    encoded = torch.from_numpy(codes.astype(np.float32) / (2**bit_depth - 1))
    return srgb_to_linear(encoded.permute(2, 0, 1).unsqueeze(0))


def random_codes(bit_depth: int, height: int = 5, width: int = 7, seed: int = 0) -> np.ndarray:
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.random.default_rng(seed).integers(0, 2**bit_depth, (height, width, 3)).astype(dtype)


def make_exif(orientation: int | None = None, **camera: float) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if orientation is not None:
        exif[ORIENTATION] = orientation
    sub_ifd = exif.get_ifd(EXIF_IFD)
    ids = {name: tag for tag, name in images.CAMERA_TAGS.items()}
    for name, value in camera.items():
        sub_ifd[ids[name]] = value
    return exif.tobytes()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# ------------------------------------------------------------------------------------------- bit depth, values


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_8_bit_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    codes = random_codes(8)
    path = tmp_path / f"out{suffix}"
    write_image(path, codes_to_linear(codes, 8), bit_depth=8)
    loaded = read_image(path)
    assert loaded.bit_depth == 8
    assert loaded.linear.shape == (1, 3, 5, 7) and loaded.linear.dtype == torch.float32
    assert (loaded.height, loaded.width) == (5, 7)
    np.testing.assert_array_equal(encode_srgb(loaded.linear, 8), codes)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_round_trip_keeps_depth_within_one_code(tmp_path: Path, suffix: str) -> None:
    codes = random_codes(16)
    path = tmp_path / f"out{suffix}"
    write_image(path, codes_to_linear(codes, 16), bit_depth=16)
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    assert loaded.format == {".png": "PNG", ".tif": "TIFF"}[suffix]
    difference = encode_srgb(loaded.linear, 16).astype(np.int64) - codes.astype(np.int64)
    assert np.abs(difference).max() <= 1


def test_16_bit_png_is_a_valid_png_for_other_readers(tmp_path: Path) -> None:
    codes = random_codes(16)
    path = tmp_path / "wide.png"
    path.write_bytes(png16_bytes(codes))
    with Image.open(path) as img:  # Pillow decodes 16-bit colour to the high byte of each sample
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), (codes >> 8).astype(np.uint8))


def test_16_bit_tiff_is_a_valid_tiff_for_other_readers(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    codes = random_codes(16)
    path = tmp_path / "wide.tif"
    path.write_bytes(tiff_bytes(codes, exif=make_exif(FNumber=4.0), icc_profile=srgb_icc()))
    np.testing.assert_array_equal(tifffile.imread(path), codes)


def test_16_bit_tiff_from_another_writer_is_read_as_16_bit(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    codes = random_codes(16, height=9, width=4, seed=3)
    path = tmp_path / "other.tif"
    tifffile.imwrite(path, codes, photometric="rgb")
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(encode_srgb(loaded.linear, 16), codes)


def test_srgb_decode_encode_round_trip_is_exact() -> None:
    codes8 = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    np.testing.assert_array_equal(encode_srgb(codes_to_linear(codes8, 8), 8), codes8)
    codes16 = np.arange(0, 65536, 7, dtype=np.uint16)[:9360].reshape(90, 104, 1).repeat(3, axis=2)
    difference = encode_srgb(codes_to_linear(codes16, 16), 16).astype(np.int64) - codes16
    assert np.abs(difference).max() <= 1


def test_values_decode_to_linear_light(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("RGB", (2, 2), (0, 188, 255)).save(path)  # sRGB 188 is about 50% linear light
    linear = read_image(path).linear[0, :, 0, 0]
    assert linear[0].item() == 0.0 and linear[2].item() == pytest.approx(1.0)
    assert linear[1].item() == pytest.approx(0.5029, abs=1e-3)


def test_16_bit_written_as_jpeg_or_webp_is_8_bit(tmp_path: Path) -> None:
    linear = codes_to_linear(np.full((4, 4, 3), 40000, np.uint16), 16)
    for name in ("out.jpg", "out.webp"):
        write_image(tmp_path / name, linear, bit_depth=16)
        assert read_image(tmp_path / name).bit_depth == 8


def test_output_bit_depth() -> None:
    assert output_bit_depth(16, Path("a.PNG")) == 16
    assert output_bit_depth(16, Path("a.tiff")) == 16
    assert output_bit_depth(16, Path("a.jpeg")) == 8
    assert output_bit_depth(8, Path("a.png")) == 8
    with pytest.raises(OutputError, match=re.escape("unknown image format '.bmp'")):
        output_bit_depth(8, Path("a.bmp"))


# ------------------------------------------------------------------------------------------------- pixel modes


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "1"])
def test_8_bit_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / ("in.jpg" if mode == "CMYK" else "in.png")
    Image.new("RGB", (3, 2), (255, 255, 255)).convert(mode).save(path)
    loaded = read_image(path)
    assert loaded.bit_depth == 8 and loaded.linear.shape == (1, 3, 2, 3)
    assert torch.allclose(loaded.linear, torch.ones_like(loaded.linear), atol=0.02)


def test_palette_with_transparency_bytes_reads_without_warning(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    img = Image.new("RGB", (3, 2), (255, 0, 0)).convert("P")
    img.save(path, transparency=bytes([0] * 256))  # Pillow warns when such an image goes straight to RGB
    with Image.open(path) as check:
        assert isinstance(check.info["transparency"], bytes)
    loaded = read_image(path)
    assert loaded.linear[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_grey_8_bit_gives_three_equal_channels(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8)).save(path)
    loaded = read_image(path)
    assert loaded.bit_depth == 8
    assert torch.equal(loaded.linear[:, 0], loaded.linear[:, 1]) and torch.equal(
        loaded.linear[:, 1], loaded.linear[:, 2]
    )
    np.testing.assert_array_equal(encode_srgb(loaded.linear, 8)[:, :, 0], [[0, 100], [200, 255]])


def test_grey_16_bit_png_stays_16_bit(tmp_path: Path) -> None:
    path = tmp_path / "grey16.png"
    grey = np.array([[0, 1000], [40000, 65535]], np.uint16)
    Image.fromarray(grey).save(path)
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    codes = encode_srgb(loaded.linear, 16).astype(np.int64)
    assert np.abs(codes - grey[:, :, None]).max() <= 1


def test_float_image_is_an_unsupported_mode(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.ones((2, 2), np.float32)).save(path)
    with pytest.raises(InputError, match="unsupported mode F") as caught:
        read_image(path)
    assert str(path) in str(caught.value)


# --------------------------------------------------------------------------------------------------- orientation


def asymmetric_codes() -> np.ndarray:
    """[4,6,3] uint8 where every pixel differs, so any wrong turn shows."""
    return (np.arange(4 * 6 * 3, dtype=np.uint8) * 3).reshape(4, 6, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    stored = asymmetric_codes()
    path = tmp_path / "turned.png"
    Image.fromarray(stored).save(path, exif=make_exif(orientation))
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    loaded = read_image(path)
    np.testing.assert_array_equal(encode_srgb(loaded.linear, 8), expected)
    np.testing.assert_array_equal(orient(stored, orientation), expected)


@pytest.mark.parametrize("orientation", [3, 6, 7])
def test_orientation_of_16_bit_png(tmp_path: Path, orientation: int) -> None:
    stored = random_codes(16, height=4, width=6)
    path = tmp_path / "turned16.png"
    path.write_bytes(png16_bytes(stored, exif=make_exif(orientation)))
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(encode_srgb(loaded.linear, 16), orient(stored, orientation))


def test_jpeg_orientation_6_is_applied_and_reset_on_write(tmp_path: Path) -> None:
    source = tmp_path / "portrait.jpg"
    stored = np.zeros((4, 8, 3), np.uint8)
    stored[0, 0] = 255  # top-left as stored: top-right once turned 90 degrees clockwise
    Image.fromarray(stored).save(source, exif=make_exif(6), quality=100)
    loaded = read_image(source)
    assert (loaded.height, loaded.width) == (8, 4)
    pixels = encode_srgb(loaded.linear, 8)
    assert pixels[0, -1].min() > 200 and pixels[-1, 0].max() < 50
    assert loaded.exif is not None
    parsed = Image.Exif()
    parsed.load(loaded.exif)
    assert parsed[ORIENTATION] == 1
    out = tmp_path / "out.jpg"
    write_image(out, loaded.linear, bit_depth=8, exif=loaded.exif)
    with Image.open(out) as written:
        assert written.getexif()[ORIENTATION] == 1
        assert written.getexif()[0x010F] == "TestCam"
        assert written.size == (4, 8)


# ------------------------------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize(
    ("suffix", "bit_depth"), [(".jpg", 8), (".png", 8), (".tif", 8), (".webp", 8), (".png", 16), (".tif", 16)]
)
def test_exif_and_icc_profile_are_kept(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    icc = srgb_icc()
    exif = make_exif(1, FNumber=2.8, FocalLength=50.0)
    path = tmp_path / f"meta{suffix}"
    write_image(
        path, codes_to_linear(random_codes(bit_depth), bit_depth), bit_depth=bit_depth, exif=exif, icc_profile=icc
    )
    loaded = read_image(path)
    assert loaded.icc_profile == icc
    assert loaded.camera_tags == {"FNumber": 2.8, "FocalLength": 50.0}
    assert loaded.exif is not None and b"TestCam" in loaded.exif
    with Image.open(path) as img:
        assert img.getexif()[0x010F] == "TestCam"


def test_metadata_survives_a_second_generation(tmp_path: Path) -> None:
    first = tmp_path / "first.tif"
    write_image(
        first,
        codes_to_linear(random_codes(16), 16),
        bit_depth=16,
        exif=make_exif(1, FNumber=5.6),
        icc_profile=srgb_icc(),
    )
    loaded = read_image(first)
    for name in ("second.jpg", "second.tif", "second.png"):
        write_image(tmp_path / name, loaded.linear, bit_depth=8, exif=loaded.exif, icc_profile=loaded.icc_profile)
        again = read_image(tmp_path / name)
        assert again.camera_tags == {"FNumber": 5.6} and again.icc_profile == loaded.icc_profile


def test_camera_tags_are_parsed(tmp_path: Path) -> None:
    path = tmp_path / "camera.jpg"
    exif = make_exif(FNumber=1.8, FocalLength=6.86, FocalLengthIn35mmFilm=24, SubjectDistance=0.0)
    Image.new("RGB", (4, 4)).save(path, exif=exif)
    tags = read_image(path).camera_tags
    assert tags == pytest.approx({"FNumber": 1.8, "FocalLength": 6.86, "FocalLengthIn35mmFilm": 24.0})
    assert "SubjectDistance" not in tags  # 0 means unknown


def test_no_metadata_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (2, 2)).save(path)
    loaded = read_image(path)
    assert loaded.exif is None and loaded.icc_profile is None and loaded.camera_tags == {}
    assert loaded.format == "PNG" and loaded.path == path


def test_non_rgb_icc_profile_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    fake_cmyk_profile = bytearray(srgb_icc())
    fake_cmyk_profile[16:20] = b"CMYK"
    Image.new("CMYK", (2, 2)).save(path, icc_profile=bytes(fake_cmyk_profile))
    assert read_image(path).icc_profile is None


# -------------------------------------------------------------------------------------------------- bad inputs


def write_truncated(path: Path, fmt: str) -> None:
    Image.fromarray(random_codes(8, 64, 64)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("hello, not a picture"), r"not an image \(or a format we cannot read\)"),
        (lambda p: p.write_bytes(b""), r"not an image \(or a format we cannot read\)"),
        (lambda p: write_truncated(p, "JPEG"), "corrupt or truncated image"),
        (lambda p: write_truncated(p, "PNG"), "corrupt or truncated image"),
    ],
    ids=["missing", "folder", "text", "empty", "truncated-jpeg", "truncated-png"],
)
def test_bad_inputs_name_the_path(tmp_path: Path, make: Callable[[Path], object], problem: str) -> None:
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(InputError, match=problem) as caught:
        read_image(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.path == path


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.jpg"
    Image.new("RGB", (2, 2)).save(path)

    def refuse(fp: object) -> Image.Image:
        raise PermissionError(13, "Permission denied", str(fp))

    monkeypatch.setattr(images.Image, "open", refuse)
    with pytest.raises(InputError, match=re.escape(f"{path}: permission denied")):
        read_image(path)


def test_decompression_bomb_over_our_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 199)
    with pytest.raises(InputError, match=re.escape(f"{path}: image has 200 pixels, over the limit of 199")):
        read_image(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 200)
    assert read_image(path).width == 20


def test_decompression_bomb_over_pillows_lowered_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60)  # Pillow warns above 60 (ignored) and fails above 120
    with pytest.raises(InputError, match=re.escape(f"{path}: image has 200 pixels, over the limit of 120")):
        read_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # only Pillow's warning: must not escape as one
    assert read_image(path).height == 10


# ---------------------------------------------------------------------------------------------- writing, atomic


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"unknown image format '.xyz' \(use .jpg, .png, .tif or .webp\)"):
        write_image(tmp_path / "out.xyz", torch.zeros(1, 3, 2, 2), bit_depth=8)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputError, match="exists; pass --overwrite to replace it"):
        write_image(path, torch.zeros(1, 3, 2, 2), bit_depth=8)
    assert path.read_bytes() == b"precious"
    write_image(path, torch.ones(1, 3, 2, 2), bit_depth=8, overwrite=True)
    assert read_image(path).linear.min().item() == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="folder does not exist"):
        write_image(tmp_path / "nowhere" / "out.png", torch.zeros(1, 3, 2, 2), bit_depth=8)


def test_wrong_tensor_shape_or_depth_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one RGB image"):
        write_image(tmp_path / "out.png", torch.zeros(2, 3, 2, 2), bit_depth=8)
    with pytest.raises(ValueError, match="bit_depth"):
        write_image(tmp_path / "out.png", torch.zeros(1, 3, 2, 2), bit_depth=12)


def test_atomic_output_temp_name_and_rename(tmp_path: Path) -> None:
    target = tmp_path / "photo.final.jpg"
    with atomic_output(target, overwrite=False) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".jpg" and tmp.name.startswith(".photo.final.tmp-")
        assert not target.exists()
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data" and not tmp.exists()


def test_atomic_output_removes_temp_when_writer_raises(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError, match="encoder broke"), atomic_output(target, overwrite=False) as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("encoder broke")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_turns_os_errors_into_output_errors(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    with (
        pytest.raises(OutputError, match=re.escape(f"{target}: cannot write")),
        atomic_output(target, overwrite=False) as tmp,
    ):
        tmp.write_bytes(b"x")
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_write_image_leaves_no_temp_when_encoding_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(pixels: np.ndarray, *, exif: bytes | None = None, icc_profile: bytes | None = None) -> bytes:
        raise RuntimeError("encoder broke")

    monkeypatch.setattr(image_writer, "png16_bytes", broken)
    with pytest.raises(RuntimeError, match="encoder broke"):
        write_image(tmp_path / "out.png", torch.zeros(1, 3, 2, 2), bit_depth=16)
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_refuses_a_folder_as_target(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"), atomic_output(tmp_path / "out.png", overwrite=True):
        pass


def test_atomic_output_refuses_a_target_that_appeared_while_writing(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    with pytest.raises(OutputError, match="exists"), atomic_output(target, overwrite=False) as tmp:
        tmp.write_bytes(b"ours")
        target.write_bytes(b"someone else's")
    assert target.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
