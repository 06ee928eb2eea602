"""Writing metric depth into a JPEG as Google's GDepth XMP, the form `depth.gdepth` reads back.

The depth is stored RangeInverse in metres, d = Far (z - Near) / (z (Far - Near)) (d = 0 at Near, 1 at Far), as
a 16-bit grey PNG, base64-encoded in `GDepth:Data`. That property is far larger than one JPEG segment allows, so
it goes in the extended XMP (Adobe XMP Specification Part 3, 1.1.3): the standard packet holds the other GDepth
properties and `xmpNote:HasExtendedXMP`, the MD5 of the extended packet, and the extended packet is split over
APP1 segments of at most `CHUNK_BYTES`, each headed by that GUID, the full length and the chunk's offset.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct

import numpy as np
from PIL import Image

from refocus_cli.depth.gdepth import GDEPTH
from refocus_cli.depth.xmp import EXTENDED_SIGNATURE, STANDARD_SIGNATURE
from refocus_cli.errors import SettingsError

CHUNK_BYTES = 65000
"""Extended-XMP bytes per APP1 segment (a segment holds at most 65533 bytes of payload with its header)."""
XMP_NOTE = "http://ns.adobe.com/xmp/note/"
_RDF_OPEN = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    f'<rdf:Description rdf:about="" xmlns:GDepth="{GDEPTH}" xmlns:xmpNote="{XMP_NOTE}"'
)
_RDF_CLOSE = "/></rdf:RDF></x:xmpmeta>"


def range_inverse_values(depth_m: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """16-bit RangeInverse codes [H,W] of metric depth, clipped to [near, far].

    >>> range_inverse_values(np.array([[1.0, 2.0, 4.0]]), 1.0, 4.0).tolist()
    [[0, 43690, 65535]]
    """
    if not 0 < near_m < far_m < float("inf"):
        raise SettingsError(f"GDepth needs 0 < Near < Far < infinity, got Near {near_m:g} and Far {far_m:g}")
    z = np.clip(depth_m.astype(np.float64), near_m, far_m)
    d = far_m * (z - near_m) / (z * (far_m - near_m))
    return np.round(np.clip(d, 0.0, 1.0) * 65535.0).astype(np.uint16)


def gdepth_segments(depth_m: np.ndarray, near_m: float, far_m: float) -> bytes:
    """The APP1 segments (standard and extended XMP) that carry `depth_m` [H,W] metres as GDepth."""
    buffer = io.BytesIO()
    Image.fromarray(range_inverse_values(depth_m, near_m, far_m)).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    extended = f'{_RDF_OPEN} GDepth:Data="{data}"{_RDF_CLOSE}'.encode()
    guid = hashlib.md5(extended).hexdigest().upper()
    properties = (
        f' GDepth:Format="RangeInverse" GDepth:Near="{near_m!r}" GDepth:Far="{far_m!r}" GDepth:Units="m"'
        f' GDepth:Mime="image/png" xmpNote:HasExtendedXMP="{guid}"'
    )
    segments = [STANDARD_SIGNATURE + f"{_RDF_OPEN}{properties}{_RDF_CLOSE}".encode()]
    for offset in range(0, len(extended), CHUNK_BYTES):
        header = guid.encode("ascii") + struct.pack(">II", len(extended), offset)
        segments.append(EXTENDED_SIGNATURE + header + extended[offset : offset + CHUNK_BYTES])
    return b"".join(b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload for payload in segments)


def embed_segments(jpeg: bytes, segments: bytes) -> bytes:
    """`jpeg` with `segments` (from `gdepth_segments`) inserted after its leading APP0/APP1 segments (JFIF, EXIF
    stay first).

    Raises:
        ValueError: `jpeg` is not a JPEG or its leading segments are corrupt.
    """
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG stream")
    position = 2
    while position + 4 <= len(jpeg) and jpeg[position] == 0xFF and jpeg[position + 1] in (0xE0, 0xE1):
        (length,) = struct.unpack(">H", jpeg[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(jpeg):
            raise ValueError("corrupt JPEG segment")
        position += 2 + length
    return jpeg[:position] + segments + jpeg[position:]
