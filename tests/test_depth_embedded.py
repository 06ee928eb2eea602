"""Depth embedded as Google GDepth XMP: round trips through real JPEG files, and hostile metadata refused."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from refocus_cli.depth.embedded import read_embedded_depth
from refocus_cli.depth.xmp import EXTENDED_SIGNATURE, STANDARD_SIGNATURE, read_xmp
from refocus_cli.errors import InputError
from refocus_cli.focus import FocusSpec
from refocus_cli.image import ImageRequest, refocus_image_file

RDF_OPEN = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
    'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
)
RDF_CLOSE = "/></rdf:RDF></x:xmpmeta>"


def _segment(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _png_b64(values: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def write_gdepth_jpeg(
    path: Path, depth_values: np.ndarray, attributes: str, *, extended: bool, chunk: int = 30000, raw_xml: bytes = b""
) -> None:
    """A JPEG photo carrying GDepth in its standard XMP, or with Data in extended XMP split into chunks."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((*depth_values.shape, 3), 128, np.uint8)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    data = _png_b64(depth_values)
    segments = b""
    if raw_xml:
        segments = _segment(STANDARD_SIGNATURE + raw_xml)
    elif not extended:
        segments = _segment(
            STANDARD_SIGNATURE + (RDF_OPEN + attributes + f' GDepth:Data="{data}"' + RDF_CLOSE).encode()
        )
    else:
        packet = (RDF_OPEN + f'GDepth:Data="{data}"' + RDF_CLOSE).encode()
        guid = hashlib.md5(packet).hexdigest().upper()
        main = RDF_OPEN + attributes + f' xmpNote:HasExtendedXMP="{guid}"' + RDF_CLOSE
        segments = _segment(STANDARD_SIGNATURE + main.encode())
        for offset in range(0, len(packet), chunk):
            header = guid.encode() + struct.pack(">II", len(packet), offset)
            segments += _segment(EXTENDED_SIGNATURE + header + packet[offset : offset + chunk])
    path.write_bytes(jpeg[:2] + segments + jpeg[2:])


@pytest.fixture
def ramp() -> np.ndarray:
    """8-bit values 0..255 left to right, 24 rows."""
    return np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (24, 1))


@pytest.mark.parametrize("extended", [False, True])
def test_range_inverse_round_trip(tmp_path: Path, ramp: np.ndarray, extended: bool) -> None:
    path = tmp_path / "portrait.jpg"
    attrs = 'GDepth:Format="RangeInverse" GDepth:Near="0.5" GDepth:Far="4.0" GDepth:Mime="image/png"'
    write_gdepth_jpeg(path, ramp, attrs, extended=extended, chunk=4000)
    depth = read_embedded_depth(path, (24, 64))
    assert depth is not None and depth.metric_depth_m is not None and depth.source == "embedded:GDepth"
    metres = depth.metric_depth_m[0, 0]
    assert float(metres[5, 0]) == pytest.approx(0.5, rel=1e-4)  # value 0: Near
    assert float(metres[5, -1]) == pytest.approx(4.0, rel=1e-4)  # value 255: Far
    d = ramp[5, 32] / 255.0
    assert float(metres[5, 32]) == pytest.approx(4.0 * 0.5 / (4.0 - d * 3.5), rel=1e-3)
    assert float(depth.disparity[0, 0, 5, 0]) == pytest.approx(1.0) and float(depth.disparity[0, 0, 5, -1]) == 0.0


def test_range_linear_in_millimetres_resized(tmp_path: Path, ramp: np.ndarray) -> None:
    path = tmp_path / "linear.jpg"
    attrs = 'GDepth:Format="RangeLinear" GDepth:Near="300" GDepth:Far="2300" GDepth:Units="mm"'
    write_gdepth_jpeg(path, ramp, attrs, extended=True)
    depth = read_embedded_depth(path, (48, 128))
    assert depth is not None and depth.metric_depth_m is not None
    assert depth.disparity.shape == (1, 1, 48, 128)
    assert float(depth.metric_depth_m[0, 0, 10, 0]) == pytest.approx(0.3, rel=1e-3)
    assert float(depth.metric_depth_m[0, 0, 10, -1]) == pytest.approx(2.3, rel=1e-3)


def test_photo_without_xmp_has_no_embedded_depth(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_embedded_depth(tmp_path / "plain.jpg", (8, 8)) is None
    assert read_embedded_depth(tmp_path / "plain.png", (8, 8)) is None


def test_refocus_uses_embedded_depth_without_a_depth_file(tmp_path: Path, ramp: np.ndarray) -> None:
    path = tmp_path / "portrait.jpg"
    write_gdepth_jpeg(path, ramp, 'GDepth:Format="RangeInverse" GDepth:Near="1" GDepth:Far="5"', extended=True)
    result = refocus_image_file(ImageRequest(path, tmp_path / "out.jpg", focus=FocusSpec(point_xy=(2, 10))))
    assert result.depth_source == "embedded:GDepth" and result.focus_disparity > 0.95  # the near end of the ramp


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
    b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>&lol2;</x:xmpmeta>"
)
EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'


@pytest.mark.parametrize(
    ("raw", "attrs", "message"),
    [
        (BILLION_LAUGHS, "", "refused"),
        (EXTERNAL, "", "refused"),
        (b"<x:xmpmeta><unclosed>", "", "malformed"),
        (b"", 'GDepth:Format="RangeInverse" GDepth:Near="-1" GDepth:Far="4"', "Near is missing or not a positive"),
        (b"", 'GDepth:Format="RangeInverse" GDepth:Near="4" GDepth:Far="1"', "must be beyond Near"),
        (b"", 'GDepth:Format="Spiral" GDepth:Near="1" GDepth:Far="4"', "Format 'Spiral'"),
        (b"", 'GDepth:Near="1" GDepth:Far="4" GDepth:Units="ft"', "Units 'ft'"),
    ],
)
def test_hostile_or_malformed_metadata_is_one_line(
    tmp_path: Path, ramp: np.ndarray, raw: bytes, attrs: str, message: str
) -> None:
    path = tmp_path / "bad.jpg"
    write_gdepth_jpeg(path, ramp, attrs, extended=False, raw_xml=raw)
    with pytest.raises(InputError, match=message) as raised:
        read_embedded_depth(path, (24, 64))
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_bad_base64_and_non_image_data(tmp_path: Path) -> None:
    for data, message in (
        ("not base64!!", "not valid base64"),
        (base64.b64encode(b"hello").decode(), "not a readable"),
    ):
        path = tmp_path / "data.jpg"
        xml = RDF_OPEN + f'GDepth:Near="1" GDepth:Far="2" GDepth:Data="{data}"' + RDF_CLOSE
        write_gdepth_jpeg(path, np.zeros((4, 4), np.uint8), "", extended=False, raw_xml=xml.encode())
        with pytest.raises(InputError, match=message):
            read_embedded_depth(path, (4, 4))


def test_extended_xmp_that_is_incomplete_or_oversized(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (24, 64), dtype=np.uint8)  # does not compress
    write_gdepth_jpeg(path, noise, 'GDepth:Near="1" GDepth:Far="2"', extended=True, chunk=500)
    data = path.read_bytes()
    first = data.index(EXTENDED_SIGNATURE)
    second = data.index(EXTENDED_SIGNATURE, first + 1)
    segment_length = struct.unpack(">H", data[second - 2 : second])[0]
    path.write_bytes(data[: second - 4] + data[second - 4 + 2 + segment_length :])  # drop one chunk
    with pytest.raises(InputError, match=r"chunks are missing|ends early"):
        read_xmp(path)
    huge = data.replace(
        data[first + len(EXTENDED_SIGNATURE) + 32 : first + len(EXTENDED_SIGNATURE) + 36], struct.pack(">I", 2**31), 1
    )
    path.write_bytes(huge)
    with pytest.raises(InputError, match="over the limit"):
        read_xmp(path)


DD_NAMESPACES = (
    'xmlns:Device="http://ns.google.com/photos/dd/1.0/device/" '
    'xmlns:Container="http://ns.google.com/photos/dd/1.0/container/" '
    'xmlns:Item="http://ns.google.com/photos/dd/1.0/item/" '
    'xmlns:Camera="http://ns.google.com/photos/dd/1.0/camera/" '
    'xmlns:DepthMap="http://ns.google.com/photos/dd/1.0/depthmap/"'
)


def write_dynamic_depth_jpeg(path: Path, depth_png: bytes, depth_map_xml: str, *, claimed: int | None = None) -> None:
    """A Dynamic Depth JPEG: primary image with the container XMP, then a confidence item and the depth item."""
    confidence = b"\x89PNG not really, but never read" * 3
    xml = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {DD_NAMESPACES}>'
        "<Device:Container><Container:Directory><rdf:Seq>"
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Length="0" '
        'Item:DataURI="primary_image"/></rdf:li>'
        f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/png" Item:Length="{len(confidence)}" '
        'Item:Padding="2" Item:DataURI="android/confidencemap"/></rdf:li>'
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/png" '
        f'Item:Length="{claimed if claimed is not None else len(depth_png)}" Item:DataURI="android/depthmap"/></rdf:li>'
        "</rdf:Seq></Container:Directory></Device:Container>"
        '<Device:Cameras><rdf:Seq><rdf:li rdf:parseType="Resource"><Device:Camera rdf:parseType="Resource">'
        f'<Camera:DepthMap rdf:parseType="Resource">{depth_map_xml}</Camera:DepthMap>'
        "</Device:Camera></rdf:li></rdf:Seq></Device:Cameras>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 64, 3), 90, np.uint8)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    primary = jpeg[:2] + _segment(STANDARD_SIGNATURE + xml.encode()) + jpeg[2:]
    path.write_bytes(primary + confidence + b"\x00\x00" + depth_png)


def _png_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dynamic_depth_round_trip_with_16_bit_depth(tmp_path: Path) -> None:
    values = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (24, 1))
    path = tmp_path / "android.jpg"
    properties = (
        "<DepthMap:Format>RangeLinear</DepthMap:Format><DepthMap:Near>0.25</DepthMap:Near>"
        "<DepthMap:Far>8.25</DepthMap:Far><DepthMap:Units>m</DepthMap:Units>"
        "<DepthMap:DepthURI>android/depthmap</DepthMap:DepthURI>"
    )
    write_dynamic_depth_jpeg(path, _png_bytes(values), properties)
    depth = read_embedded_depth(path, (24, 64))
    assert depth is not None and depth.source == "embedded:DynamicDepth" and depth.metric_depth_m is not None
    metres = depth.metric_depth_m[0, 0]
    assert float(metres[3, 0]) == pytest.approx(0.25, rel=1e-4)
    assert float(metres[3, -1]) == pytest.approx(8.25, rel=1e-4)
    assert float(metres[3, 31]) == pytest.approx(0.25 + values[3, 31] / 65535 * 8.0, rel=1e-3)


def test_dynamic_depth_with_inconsistent_lengths_or_missing_item(tmp_path: Path) -> None:
    png = _png_bytes(np.zeros((24, 64), np.uint8))
    properties = (
        "<DepthMap:Near>1</DepthMap:Near><DepthMap:Far>2</DepthMap:Far><DepthMap:DepthURI>{}</DepthMap:DepthURI>"
    )
    path = tmp_path / "bad.jpg"
    write_dynamic_depth_jpeg(path, png, properties.format("android/depthmap"), claimed=10**9)
    with pytest.raises(InputError, match="items claim"):
        read_embedded_depth(path, (24, 64))
    write_dynamic_depth_jpeg(path, png, properties.format("android/elsewhere"))
    with pytest.raises(InputError, match="does not hold"):
        read_embedded_depth(path, (24, 64))
