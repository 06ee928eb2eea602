"""XMP packets of a JPEG, the standard one and the extended one that large properties (depth maps) live in.

Layout (Adobe XMP Specification Part 3, 1.1.3): the standard packet is an APP1 segment whose payload starts
with `http://ns.adobe.com/xap/1.0/\\0`; an extended packet is split over APP1 segments starting with
`http://ns.adobe.com/xmp/extension/\\0`, each followed by the 32-character GUID (the MD5 of the whole extended
packet, named by `xmpNote:HasExtendedXMP` in the standard packet), the full length and this chunk's offset
(both 4-byte big-endian). Metadata is untrusted input: lengths are checked against caps before anything is
assembled, and XML is parsed with defusedxml (no entity expansion, no external entities).
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from refocus_cli.errors import InputError, missing_or_unreadable

STANDARD_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_SIGNATURE = b"http://ns.adobe.com/xmp/extension/\x00"
MAX_EXTENDED_BYTES = 64 * 1024 * 1024
"""Largest extended XMP we assemble (a depth map of a 50 MP photo as PNG, base64, fits easily)."""
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XMP_NOTE = "{http://ns.adobe.com/xmp/note/}"


@dataclass(frozen=True)
class XmpPackets:
    """The XMP packets of one file, as parsed XML; either may be missing."""

    standard: ET.Element | None = None
    extended: ET.Element | None = None

    def property(self, namespace: str, name: str) -> str | None:
        """A property `{namespace}name` from any rdf:Description of either packet (attribute or element)."""
        key = f"{{{namespace}}}{name}"
        for root in (self.standard, self.extended):
            if root is None:
                continue
            for description in root.iter(f"{RDF}Description"):
                if key in description.attrib:
                    return description.attrib[key]
                child = description.find(key)
                if child is not None and child.text is not None:
                    return child.text.strip()
        return None


def jpeg_app1_payloads(path: Path, data: bytes) -> list[bytes]:
    """Payloads of the APP1 segments before the image data of a JPEG, in file order."""
    if not data.startswith(b"\xff\xd8"):
        return []
    payloads, position = [], 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise InputError(path, "corrupt JPEG: bad segment marker in its metadata")
        marker = data[position + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata beyond
            break
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(data):
            raise InputError(path, "corrupt JPEG: a metadata segment runs past the end of the file")
        if marker == 0xE1:
            payloads.append(data[position + 4 : position + 2 + length])
        position += 2 + length
    return payloads


def read_xmp(path: Path) -> XmpPackets:
    """The standard and extended XMP of a JPEG (empty for other files or files without XMP).

    Raises:
        InputError: unreadable file, corrupt segments, malformed or hostile XML, an extended packet that is
            inconsistent, incomplete or over MAX_EXTENDED_BYTES.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, f"cannot read ({exc.strerror or exc})") from exc
    payloads = jpeg_app1_payloads(path, data)
    standard_bytes = next((p[len(STANDARD_SIGNATURE) :] for p in payloads if p.startswith(STANDARD_SIGNATURE)), None)
    if standard_bytes is None:
        return XmpPackets()
    standard = parse_xml(path, standard_bytes, "XMP")
    packets = XmpPackets(standard=standard)
    guid = packets.property(XMP_NOTE.strip("{}"), "HasExtendedXMP")
    if guid is None:
        return packets
    chunks = [p[len(EXTENDED_SIGNATURE) :] for p in payloads if p.startswith(EXTENDED_SIGNATURE)]
    extended_bytes = assemble_extended(path, chunks, guid)
    return XmpPackets(standard=standard, extended=parse_xml(path, extended_bytes, "extended XMP"))


def assemble_extended(path: Path, chunks: list[bytes], guid: str) -> bytes:
    """Join the extended-XMP chunks of one GUID by their offsets, checking lengths and coverage."""
    total: int | None = None
    pieces: dict[int, bytes] = {}
    for chunk in chunks:
        if len(chunk) < 40:
            raise InputError(path, "corrupt extended XMP: a chunk is too short for its header")
        if chunk[:32].decode("ascii", errors="replace") != guid:
            continue
        length, offset = struct.unpack(">II", chunk[32:40])
        if length > MAX_EXTENDED_BYTES:
            raise InputError(path, f"extended XMP of {length} bytes is over the limit of {MAX_EXTENDED_BYTES}")
        if total is not None and length != total:
            raise InputError(path, "corrupt extended XMP: its chunks disagree on the total length")
        total = length
        body = chunk[40:]
        if offset + len(body) > length:
            raise InputError(path, "corrupt extended XMP: a chunk runs past the stated length")
        pieces[offset] = body
    if total is None:
        raise InputError(path, f"extended XMP {guid} is announced but missing")
    assembled = bytearray(total)
    covered = 0
    for offset in sorted(pieces):
        if offset != covered:
            raise InputError(path, "corrupt extended XMP: chunks are missing or overlap")
        assembled[offset : offset + len(pieces[offset])] = pieces[offset]
        covered = offset + len(pieces[offset])
    if covered != total:
        raise InputError(path, "corrupt extended XMP: it ends early")
    return bytes(assembled)


def parse_xml(path: Path, text: bytes, what: str) -> ET.Element:
    """Parse XML safely: entity declarations and external references are refused."""
    try:
        return fromstring(text, forbid_dtd=True)
    except (DefusedXmlException, ValueError) as exc:
        raise InputError(path, f"{what} refused: {exc.__class__.__name__} (hostile or unsupported XML)") from exc
    except ET.ParseError as exc:
        raise InputError(path, f"{what} is malformed ({exc})") from exc
