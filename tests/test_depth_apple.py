"""Apple's depth formats: MPF JPEGs built byte by byte (round trips, look-alikes that are not depth, hostile
indexes), and HEIC depth images (pillow-heif cannot write them, so the conversion is fed small fakes)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.depth.embedded import read_embedded_depth
from refocus_cli.depth.heic import depth_image_to_map
from refocus_cli.depth.mpf import MAX_IMAGE_BYTES, MAX_MP_IMAGES
from refocus_cli.depth.xmp import STANDARD_SIGNATURE
from refocus_cli.errors import InputError
from refocus_cli.io.images import read_image

DEPTH_TYPE = 0x000000  # MP type "undefined", as written for auxiliary images
APDI_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:apdi="http://ns.apple.com/pixeldatainfo/1.0/" {}/></rdf:RDF></x:xmpmeta>'
)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg(pixels: np.ndarray, *, xmp: str = "", exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, **({"exif": exif} if exif else {}))
    jpeg = buffer.getvalue()
    if xmp:
        jpeg = jpeg[:2] + _segment(0xE1, STANDARD_SIGNATURE + xmp.encode()) + jpeg[2:]
    return jpeg


def mpf_payload(entries: list[tuple[int, int, int]], *, number: int | None = None) -> bytes:
    """`MPF\\0` and a little-endian MP Index IFD: MPFVersion, NumberOfImages, MPEntry (attribute, size, offset)."""
    ifd_entries = [
        struct.pack("<HHI4s", 0xB000, 7, 4, b"0100"),
        struct.pack("<HHII", 0xB001, 4, 1, len(entries) if number is None else number),
        struct.pack("<HHII", 0xB002, 7, 16 * len(entries), 8 + 2 + 12 * 3 + 4),
    ]
    ifd = struct.pack("<H", 3) + b"".join(ifd_entries) + struct.pack("<I", 0)
    table = b"".join(struct.pack("<IIIHH", attribute, size, offset, 0, 0) for attribute, size, offset in entries)
    return b"MPF\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd + table


def write_mpf_jpeg(path: Path, photo: np.ndarray, second: bytes, *, attribute: int = DEPTH_TYPE, exif=None) -> None:
    """The photo as the primary JPEG with an APP2 MPF index listing it and `second`, which follows it."""
    primary = _jpeg(photo, exif=exif)
    insert_at = 2  # after the APP0 (JFIF) and APP1 (EXIF) segments the encoder wrote, as cameras do
    while primary[insert_at : insert_at + 2] in (b"\xff\xe0", b"\xff\xe1"):
        insert_at += 2 + struct.unpack(">H", primary[insert_at + 2 : insert_at + 4])[0]
    size_of_app2 = 4 + len(mpf_payload([(0, 0, 0), (0, 0, 0)]))
    tiff_start = insert_at + 4 + 4  # marker, length, "MPF\0"
    first_size = len(primary) + size_of_app2
    payload = mpf_payload([(0x20030000, first_size, 0), (attribute, len(second), first_size - tiff_start)])
    path.write_bytes(primary[:insert_at] + _segment(0xE2, payload) + primary[insert_at:] + second)


@pytest.fixture
def photo() -> np.ndarray:
    """A 48x64 noise photo."""
    return np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


@pytest.fixture
def disparity() -> np.ndarray:
    """A 12x16 smooth disparity map (Apple's maps are much smaller than the photo): nearest at the right edge."""
    x, y = np.meshgrid(np.linspace(0, 1, 16), np.linspace(0, 1, 12))
    return np.round(255 * (0.8 * x + 0.2 * y * x)).astype(np.uint8)


def _resized(values: np.ndarray, size_hw: tuple[int, int]) -> torch.Tensor:
    normalised = (values - values.min()) / (values.max() - values.min())
    return F.interpolate(torch.from_numpy(normalised).float()[None, None], size=size_hw, mode="bilinear")


def test_mpf_grey_disparity_round_trip(tmp_path: Path, photo: np.ndarray, disparity: np.ndarray) -> None:
    path = tmp_path / "apple.jpg"
    write_mpf_jpeg(path, photo, _jpeg(disparity))
    depth = read_embedded_depth(path, (48, 64))
    assert depth is not None and depth.source == "embedded:MPF" and depth.metric_depth_m is None
    assert depth.disparity.shape == (1, 1, 48, 64) and depth.disparity.dtype == torch.float32
    assert float((depth.disparity - _resized(disparity.astype(np.float64), (48, 64))).abs().mean()) < 2 / 255
    assert float(depth.disparity.max()) == 1.0 and float(depth.disparity[0, 0, 40:, 60:].min()) > 0.9  # nearest


def test_mpf_depth_labelled_by_apple_xmp_is_inverted(tmp_path: Path, photo: np.ndarray) -> None:
    z = np.tile(np.linspace(20, 250, 16).round().astype(np.uint8), (12, 1))  # near on the left
    path = tmp_path / "depth.jpg"
    label = 'apdi:AuxiliaryImageType="urn:com:apple:photo:2018:aux:depth"'
    write_mpf_jpeg(path, photo, _jpeg(z, xmp=APDI_XMP.format(label)))
    depth = read_embedded_depth(path, (12, 16))
    assert depth is not None
    row = depth.disparity[0, 0, 6].numpy()
    expected = (1 / z[6] - 1 / z[6].max()) / (1 / z[6].min() - 1 / z[6].max())
    assert np.abs(row - expected).max() < 0.05 and row[0] == pytest.approx(1.0)


def test_mpf_depth_turned_by_the_photo_exif_orientation(tmp_path: Path, photo: np.ndarray) -> None:
    stored = np.zeros((12, 16), np.uint8)
    stored[:, :4] = 255  # near along the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: the stored left edge becomes the top
    path = tmp_path / "turned.jpg"
    write_mpf_jpeg(path, photo, _jpeg(stored), exif=exif)
    assert read_image(path).linear.shape[-2:] == (64, 48)
    depth = read_embedded_depth(path, (64, 48))
    assert depth is not None
    assert float(depth.disparity[0, 0, :8].mean()) > 0.95 and float(depth.disparity[0, 0, -24:].mean()) < 0.05


@pytest.mark.parametrize(
    ("second", "attribute"),
    [
        ("colour", DEPTH_TYPE),  # a colour preview or stereo view
        ("grey", 0x010001),  # a large thumbnail, even if grey
        ('apdi:AuxiliaryImageType="urn:com:apple:photo:2018:aux:portraiteffectsmatte"', DEPTH_TYPE),
        ('apdi:AuxiliaryImageType="urn:com:apple:photo:2020:aux:hdrgainmap"', DEPTH_TYPE),
        ('xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0"', DEPTH_TYPE),
    ],
)
def test_mpf_images_that_are_not_depth(
    tmp_path: Path, photo: np.ndarray, disparity: np.ndarray, second: str, attribute: int
) -> None:
    if second == "colour":
        image = _jpeg(np.repeat(disparity[:, :, None], 3, axis=2) // np.array([1, 2, 3], np.uint8))
    else:
        image = _jpeg(disparity, xmp="" if second == "grey" else APDI_XMP.format(second))
    path = tmp_path / "camera.jpg"
    write_mpf_jpeg(path, photo, image, attribute=attribute)
    assert read_embedded_depth(path, (48, 64)) is None


def test_pillow_written_mpo_of_two_colour_frames_has_no_depth(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "stereo.jpg"
    frames = [Image.fromarray(photo), Image.fromarray(photo[:, ::-1].copy())]
    frames[0].save(path, format="MPO", save_all=True, append_images=frames[1:])
    assert read_embedded_depth(path, (48, 64)) is None


def _tamper(data: bytes, entries: list[tuple[int, int, int]] | None = None, **changes: Any) -> bytes:
    """The MPF JPEG with its APP2 payload replaced by a rebuilt or edited one (same length)."""
    at = data.index(b"MPF\x00")
    old = data[at : at + len(mpf_payload([(0, 0, 0)] * 2))]
    (first, second) = [struct.unpack_from("<III", old, 54 + 16 * k) for k in range(2)]
    new = mpf_payload(entries or [first, second], number=changes.get("number"))
    new = changes.get("edit", lambda payload: payload)(new)
    return data[:at] + new + data[at + len(old) :]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, s: _tamper(d, [(0, 1000, 0), (0, s[1], 10**6)]), "lies outside the file"),
        (lambda d, s: _tamper(d, [(0, 1000, 0), (0, 2**32 - 1, s[2])]), f"over the limit of {MAX_IMAGE_BYTES}"),
        (lambda d, s: _tamper(d, [(0, 1000, 0), (0, s[1], 0)]), "lies outside the file"),
        (lambda d, s: _tamper(d, [(0, 1000, 0), (0, s[1] - 8, s[2] + 8)]), "does not start as a JPEG"),
        (lambda d, s: _tamper(d, number=10**9), "counts 1000000000 images but lists 2"),
        (lambda d, s: _tamper(d, edit=lambda p: p[:12] + struct.pack("<H", 60000) + p[14:]), "runs past the end"),
        (lambda d, s: _tamper(d, edit=lambda p: p[:8] + struct.pack("<I", 2**31) + p[12:]), "IFD lies past"),
        (lambda d, s: _tamper(d, edit=lambda p: p[:4] + b"XX" + p[6:]), "does not start with a TIFF header"),
        (
            lambda d, s: _tamper(d, edit=lambda p: p[:38] + struct.pack("<HHII", 0xB002, 7, 16 * 10**6, 50) + p[50:]),
            f"over the limit of {MAX_MP_IMAGES}",
        ),
        (lambda d, s: _tamper(d, edit=lambda p: p[:38] + struct.pack("<HHII", 0xB002, 7, 17, 50) + p[50:]), "16-byte"),
        (
            lambda d, s: _tamper(d, edit=lambda p: p[:38] + struct.pack("<HHII", 0xB002, 7, 32, 10**6) + p[50:]),
            "MPEntry",
        ),
        (lambda d, s: d[: len(d) - 100], "lies outside the file"),  # the file cut short
    ],
)
def test_hostile_mpf_index_is_one_line(
    tmp_path: Path, photo: np.ndarray, disparity: np.ndarray, make: Any, message: str
) -> None:
    path = tmp_path / "hostile.jpg"
    write_mpf_jpeg(path, photo, _jpeg(disparity))
    data = path.read_bytes()
    at = data.index(b"MPF\x00")
    second = struct.unpack_from("<III", data, at + 54 + 16)
    path.write_bytes(make(data, second))
    with pytest.raises(InputError, match=message) as raised:
        read_embedded_depth(path, (48, 64))
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_mpf_depth_of_another_aspect_ratio_is_refused(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "square.jpg"
    write_mpf_jpeg(path, photo, _jpeg(np.zeros((16, 16), np.uint8)))
    with pytest.raises(InputError, match="aspect ratios differ"):
        read_embedded_depth(path, (48, 64))


def test_cli_reports_mpf_depth(tmp_path: Path, photo: np.ndarray, disparity: np.ndarray) -> None:
    path = tmp_path / "photo.jpg"
    write_mpf_jpeg(path, photo[:24, :32], _jpeg(disparity))  # a small photo: the render is the slow part
    out = tmp_path / "out.jpg"
    result = CliRunner().invoke(app, ["image", str(path), "--blur", "8", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.strip())["depth_source"] == "embedded:MPF" and out.exists()


# ------------------------------------------------------------------------------------------------------- HEIC


class FakeDepthImage:
    """What the reader uses of a `pillow_heif.HeifDepthImage`: size, mode, info and the array interface."""

    def __init__(self, samples: np.ndarray, metadata: dict[str, Any] | None, mode: str = "L") -> None:
        self.samples = samples
        self.size = (samples.shape[1], samples.shape[0])
        self.mode = mode
        self.info = {"metadata": metadata}

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.samples


def _normalised(values: np.ndarray) -> np.ndarray:
    return (values - values.min()) / (values.max() - values.min())


RAMP = np.tile(np.arange(0, 256, 17, dtype=np.uint8), (12, 1))  # [12,16], 0..255 left to right
T = RAMP[0] / 255.0


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"representation_type": 1, "d_min": 1.5, "d_max": 4.4, "nonlinear_representation_model_size": 0}, T),
        ({"representation_type": 0, "z_near": 0.3, "z_far": 5.0}, T),
        ({"representation_type": 2, "z_near": 0.5, "z_far": 4.0}, _normalised(1 / (0.5 + T * 3.5))),
        ({"representation_type": 3, "nonlinear_representation_model_size": 4}, T),
        (None, T),
    ],
)
def test_heic_depth_representations(tmp_path: Path, metadata: dict[str, Any] | None, expected: np.ndarray) -> None:
    depth = depth_image_to_map(tmp_path / "p.heic", FakeDepthImage(RAMP, metadata), (12, 16))
    assert depth.source == "embedded:HEIC" and depth.metric_depth_m is None
    assert depth.disparity.shape == (1, 1, 12, 16) and depth.disparity.dtype == torch.float32
    np.testing.assert_allclose(depth.disparity[0, 0, 5].numpy(), expected, atol=1e-6)


def test_heic_16_bit_depth_resized_and_turned(tmp_path: Path) -> None:
    stored = np.zeros((12, 16), np.uint16)
    stored[:, :4] = 60000  # near along the stored left edge
    fake = FakeDepthImage(stored, {"representation_type": 1}, mode="L;16")
    depth = depth_image_to_map(tmp_path / "p.heic", fake, (64, 48), orientation=6)  # unturned: turned here
    assert depth.disparity.shape == (1, 1, 64, 48)
    assert float(depth.disparity[0, 0, :8].mean()) > 0.95 and float(depth.disparity[0, 0, -24:].mean()) < 0.05


@pytest.mark.parametrize(
    ("samples", "metadata", "message"),
    [
        (RAMP, {"representation_type": 7}, "unknown representation type 7"),
        (RAMP, {"representation_type": 2, "z_far": 4.0}, "without a positive z_near"),
        (np.zeros((16, 16), np.uint8), {"representation_type": 1}, "aspect ratios differ"),
    ],
)
def test_heic_depth_refused_in_one_line(tmp_path: Path, samples: np.ndarray, metadata: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        depth_image_to_map(tmp_path / "p.heic", FakeDepthImage(samples, metadata), (48, 64))
    assert "\n" not in str(raised.value)


@pytest.fixture
def heic(tmp_path: Path, photo: np.ndarray) -> Path:
    """A real 48x64 HEIC photo, without depth (pillow-heif cannot write depth images)."""
    import pillow_heif

    path = tmp_path / "photo.heic"
    pillow_heif.from_bytes("RGB", (64, 48), photo.tobytes()).save(path, quality=90)
    return path


def test_heic_photo_is_read_and_has_no_depth(heic: Path) -> None:
    loaded = read_image(heic)
    assert loaded.linear.shape == (1, 3, 48, 64) and loaded.format == "HEIF"
    assert read_embedded_depth(heic, (48, 64)) is None


def test_heic_depth_image_found_through_pillow_heif(heic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pillow_heif

    fake = FakeDepthImage(RAMP, {"representation_type": 1, "d_min": 1.0, "d_max": 3.0})
    opened = SimpleNamespace(info={"depth_images": [fake], "exif": None})
    monkeypatch.setattr(pillow_heif, "open_heif", lambda path, **options: opened)
    depth = read_embedded_depth(heic, (48, 64))
    assert depth is not None and depth.source == "embedded:HEIC"
    assert float(depth.disparity[0, 0, :, -1].min()) == pytest.approx(1.0)  # the ramp's top: nearest


def test_corrupt_heic_is_one_line(heic: Path) -> None:
    heic.write_bytes(heic.read_bytes()[:200])
    with pytest.raises(InputError, match="HEIF file cannot be read"):
        read_embedded_depth(heic, (48, 64))
