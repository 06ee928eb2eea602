"""Depth in Apple's JPEG exports: a greyscale disparity map stored after the photo, indexed by Multi-Picture Format.

Layout (CIPA DC-007 Multi-Picture Format): the primary JPEG's APP2 segment starting `MPF\\0` holds a TIFF
structure (byte-order mark, 42, offset of the MP Index IFD; every offset counts from the byte-order mark). Its
MPEntry tag (0xB002, UNDEFINED, 16 bytes per image; NumberOfImages 0xB001 must agree) lists each image:
attribute (bits 24-26 the data format, 0 = JPEG; bits 0-23 the MP type), size, offset (0 for the primary image)
and two dependent-image entry numbers. The images follow the primary one in the file.

An image after the primary one is taken as the depth when its own XMP says so (Apple's
`apdi:AuxiliaryImageType` naming depth or disparity, or Apple's `depthData:` properties), or, unlabelled, when
it is a greyscale JPEG (Apple writes disparity: brighter = nearer). Labelled mattes (portrait effects, semantic
segmentation), HDR gain maps (Apple, Adobe/Android `hdrgm:`, ISO 21496-1) and colour images (previews, stereo
views) are never depth. A depth map holds z (larger = farther; 0 = no measurement), turned into 1/z.

Everything is untrusted: every offset and size is checked against its segment or the file and against the caps
before anything is read or decoded; malformed data is a one-line `InputError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refocus_cli.depth.heic import axes_swapped, disparity_depth_map, exif_orientation
from refocus_cli.depth.range_encoding import decode_image_bytes
from refocus_cli.depth.xmp import MAX_EXTENDED_BYTES, STANDARD_SIGNATURE, XmpPackets, parse_xml
from refocus_cli.errors import InputError, missing_or_unreadable
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.io.images import orient

SOURCE = "embedded:MPF"
MPF_SIGNATURE = b"MPF\x00"
EXIF_SIGNATURE = b"Exif\x00\x00"
ISO_GAIN_MAP_SIGNATURE = b"urn:iso:std:iso:ts:21496:-1"
NUMBER_OF_IMAGES, MP_ENTRY = 0xB001, 0xB002
MAX_MP_IMAGES = 64
"""Most images an MP index may list (phones write 2 to 6)."""
MAX_IMAGE_BYTES = MAX_EXTENDED_BYTES
"""Largest embedded image we read: the cap on extended XMP, which carries the same depth maps elsewhere."""
PREVIEW_TYPES = frozenset({0x010001, 0x010002, 0x020001, 0x020003, 0x030000})
"""MP types that are never a depth map: large thumbnails, panorama and multi-angle frames, a baseline primary."""
APDI = "http://ns.apple.com/pixeldatainfo/1.0/"
APPLE_DEPTH_DATA = "{http://ns.apple.com/depthData/1.0/}"
HDR_GAIN_MAP = "{http://ns.adobe.com/hdr-gain-map/1.0/}"
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass(frozen=True)
class MpEntry:
    """One image of the MP index: where it lies in the file and what it is."""

    number: int
    attribute: int
    start: int
    size: int

    @property
    def is_jpeg(self) -> bool:
        """Data format 0 (bits 24-26 of the attribute)."""
        return (self.attribute >> 24) & 0x7 == 0

    @property
    def mp_type(self) -> int:
        """MP type code (bits 0-23 of the attribute)."""
        return self.attribute & 0xFFFFFF


@dataclass(frozen=True)
class JpegHeader:
    """What is read of a JPEG before its image data: APP1 payloads, APP2 payloads with their file offsets (in
    file order) and the number of colour components (1 = greyscale; 0 before a frame header)."""

    app1: list[bytes]
    app2: list[tuple[int, bytes]]
    components: int


def mpf_depth(path: Path, xmp: XmpPackets, size_hw: tuple[int, int]) -> DepthMap | None:
    """The depth map after an MPF JPEG's primary image, as disparity resized to the photo; None without one.

    `xmp` (the primary image's) is not used: the depth image describes itself.

    Raises:
        InputError: the MP index or an image it lists is malformed, out of the file or over the caps; the depth
            image is undecodable, mostly invalid or of another aspect ratio than the photo (one line).
    """
    data = _jpeg_bytes(path)
    if data is None:
        return None
    header = jpeg_header(path, data, 0, len(data), "JPEG")
    mpf = next(((at, payload) for at, payload in header.app2 if payload.startswith(MPF_SIGNATURE)), None)
    if mpf is None:
        return None
    at, payload = mpf
    entries = mp_entries(path, payload[len(MPF_SIGNATURE) :], at + len(MPF_SIGNATURE), len(data))
    for entry in entries[1:]:
        if not entry.is_jpeg or entry.mp_type in PREVIEW_TYPES:
            continue
        kind = _depth_kind(path, data, entry)
        if kind is None:
            continue
        values = decode_image_bytes(path, data[entry.start : entry.start + entry.size], "MPF depth image")
        if kind == "depth":
            with np.errstate(divide="ignore"):
                values = np.where(values > 0, 1.0 / values, np.nan)  # 0 = no measurement: filled from around
        orientation = exif_orientation(next((p for p in header.app1 if p.startswith(EXIF_SIGNATURE)), None))
        turned = orientation if orientation < 5 or axes_swapped(values.shape, size_hw) else 1
        return disparity_depth_map(path, orient(values, turned), size_hw, SOURCE, "MPF depth image")
    return None


def _jpeg_bytes(path: Path) -> bytes | None:
    """The file's bytes if it starts as a JPEG, else None (without reading the rest)."""
    try:
        with path.open("rb") as handle:
            if handle.read(2) != b"\xff\xd8":
                return None
            return b"\xff\xd8" + handle.read()
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, f"cannot read ({exc.strerror or exc})") from exc


def jpeg_header(path: Path, data: bytes, start: int, end: int, what: str) -> JpegHeader:
    """The APP1 and APP2 payloads and the component count of the JPEG in `data[start:end]`, up to its scan.

    Raises:
        InputError: a segment marker is missing or a segment runs past `end`.
    """
    app1: list[bytes] = []
    app2: list[tuple[int, bytes]] = []
    components, position = 0, start + 2
    while position + 4 <= end:
        if data[position] != 0xFF:
            raise InputError(path, f"corrupt {what}: bad segment marker before its image data")
        marker = data[position + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no header beyond
            break
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > end:
            raise InputError(path, f"corrupt {what}: a header segment runs past its end")
        payload = data[position + 4 : position + 2 + length]
        if marker == 0xE1:
            app1.append(payload)
        elif marker == 0xE2:
            app2.append((position + 4, payload))
        elif marker in _SOF_MARKERS and len(payload) >= 6:
            components = payload[5]  # precision, height (2), width (2), number of components
        position += 2 + length
    return JpegHeader(app1, app2, components)


def mp_entries(path: Path, tiff: bytes, tiff_start: int, file_size: int) -> list[MpEntry]:
    """The images an MP index lists, each checked to lie inside the file and under the caps.

    Args:
        path: the photo, named in errors.
        tiff: the APP2 payload after `MPF\\0` (the TIFF structure).
        tiff_start: the file offset of its first byte (the base of every image offset).
        file_size: the file's length in bytes.

    Raises:
        InputError: no byte-order mark, an IFD or MPEntry outside the segment, no MPEntry or one that is not
            bytes, a count that disagrees with NumberOfImages or is over MAX_MP_IMAGES, an image outside the
            file or over MAX_IMAGE_BYTES.
    """
    if tiff[:4] not in (b"II*\x00", b"MM\x00*") or len(tiff) < 8:
        raise InputError(path, "corrupt MPF index: it does not start with a TIFF header")
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        raise InputError(path, "corrupt MPF index: its IFD lies past the end of its segment")
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    if ifd + 2 + 12 * count > len(tiff):
        raise InputError(path, f"corrupt MPF index: its IFD of {count} entries runs past the end of its segment")
    fields, types = {}, {}
    for position in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind, length, value = struct.unpack_from(order + "HHII", tiff, position)
        if kind == 3 and length == 1:  # a SHORT sits in the first two bytes of the value field
            (value,) = struct.unpack_from(order + "H", tiff, position + 8)
        fields[tag], types[tag] = (length, value), kind
    if MP_ENTRY not in fields:
        raise InputError(path, "corrupt MPF index: it has no MPEntry list")
    if types[MP_ENTRY] not in (1, 7):  # BYTE or UNDEFINED: its count is then its length in bytes
        raise InputError(path, f"corrupt MPF index: its MPEntry list has TIFF type {types[MP_ENTRY]}, not bytes")
    length, offset = fields[MP_ENTRY]
    if length == 0 or length % 16:
        raise InputError(path, f"corrupt MPF index: its MPEntry list of {length} bytes is not whole 16-byte entries")
    images = length // 16
    if images > MAX_MP_IMAGES:
        raise InputError(path, f"MPF index lists {images} images, over the limit of {MAX_MP_IMAGES}")
    if NUMBER_OF_IMAGES in fields and fields[NUMBER_OF_IMAGES][1] != images:
        raise InputError(path, f"corrupt MPF index: it counts {fields[NUMBER_OF_IMAGES][1]} images but lists {images}")
    if offset + length > len(tiff):
        raise InputError(path, "corrupt MPF index: its MPEntry list runs past the end of its segment")
    entries = []
    for number in range(images):
        attribute, size, image_offset, _, _ = struct.unpack_from(order + "IIIHH", tiff, offset + 16 * number)
        entries.append(_checked(path, number, attribute, size, image_offset, tiff_start, file_size))
    return entries


def _checked(
    path: Path, number: int, attribute: int, size: int, offset: int, tiff_start: int, file_size: int
) -> MpEntry:
    """An MP entry whose image (after the first) lies inside the file, non-empty and under MAX_IMAGE_BYTES."""
    if number == 0:
        return MpEntry(0, attribute, 0, size)
    if size > MAX_IMAGE_BYTES:
        raise InputError(path, f"MPF image {number + 1} of {size} bytes is over the limit of {MAX_IMAGE_BYTES}")
    start = tiff_start + offset
    if offset == 0 or size < 4 or start + size > file_size:
        raise InputError(
            path, f"MPF image {number + 1} (offset {offset}, {size} bytes) lies outside the file of {file_size} bytes"
        )
    return MpEntry(number, attribute, start, size)


def _depth_kind(path: Path, data: bytes, entry: MpEntry) -> str | None:
    """ "depth" or "disparity" when the image is a depth map (labelled, or unlabelled and greyscale), else None."""
    end = entry.start + entry.size
    if data[entry.start : entry.start + 2] != b"\xff\xd8":
        raise InputError(path, f"corrupt MPF image {entry.number + 1}: it does not start as a JPEG")
    header = jpeg_header(path, data, entry.start, end, f"MPF image {entry.number + 1}")
    if any(payload.startswith(ISO_GAIN_MAP_SIGNATURE) for _, payload in header.app2):
        return None  # an ISO 21496-1 gain map
    label = _xmp_label(path, header)
    if label == "unlabelled":
        return "disparity" if header.components == 1 else None
    return label if label in ("depth", "disparity") else None


def _xmp_label(path: Path, header: JpegHeader) -> str:
    """What an embedded image's XMP says it is: "depth", "disparity", "other" or "unlabelled"."""
    packet = next((p[len(STANDARD_SIGNATURE) :] for p in header.app1 if p.startswith(STANDARD_SIGNATURE)), None)
    if packet is None:
        return "unlabelled"
    root = parse_xml(path, packet, "MPF image XMP")
    aux_type = (XmpPackets(standard=root).property(APDI, "AuxiliaryImageType") or "").lower()
    if aux_type:
        if "matte" in aux_type or "gainmap" in aux_type:
            return "other"
        if aux_type.endswith("disparity") or aux_type.endswith("auxid:2"):
            return "disparity"  # Apple's depth aux type carries disparity
        return "depth" if aux_type.endswith("depth") else "other"
    names = {name for element in root.iter() for name in (element.tag, *element.attrib)}
    if any(name.startswith(HDR_GAIN_MAP) for name in names):
        return "other"
    if any(name.startswith(APPLE_DEPTH_DATA) for name in names):
        return "disparity"
    return "unlabelled"
