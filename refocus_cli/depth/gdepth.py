"""Depth embedded by Google Camera's portrait mode: the GDepth XMP properties (the "depthmap" metadata).

`GDepth:Data` holds a base64 greyscale image (`GDepth:Mime`, PNG or JPEG), usually in the extended XMP; its
values map to depth by `GDepth:Format`, `GDepth:Near`, `GDepth:Far` and `GDepth:Units` (see
`refocus_cli.depth.range_encoding`).
"""

from __future__ import annotations

from pathlib import Path

from refocus_cli.depth.range_encoding import RangeEncoding, decode_base64_image
from refocus_cli.depth.xmp import XmpPackets
from refocus_cli.io.depth_files import DepthMap

GDEPTH = "http://ns.google.com/photos/1.0/depthmap/"


def gdepth_depth(path: Path, xmp: XmpPackets, size_hw: tuple[int, int]) -> DepthMap | None:
    """The GDepth depth map in a photo's XMP, resized to the photo; None when the photo has none.

    Raises:
        InputError: the metadata is there but malformed, hostile or over the size caps (one line).
    """
    data = xmp.property(GDEPTH, "Data")
    if data is None:
        return None
    encoding = RangeEncoding.from_properties(path, lambda name: xmp.property(GDEPTH, name), "GDepth")
    return encoding.depth_map(decode_base64_image(path, data, "GDepth"), size_hw, "embedded:GDepth")
