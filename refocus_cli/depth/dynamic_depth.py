"""Depth in the Android Dynamic Depth format (Dynamic Depth 1.0): items appended after the primary JPEG.

The primary image's XMP lists the file's items in `Device:Container/Container:Directory` (each a
`Container:Item` with `Item:Mime`, `Item:Length`, `Item:Padding`, `Item:DataURI`; the first is the primary
image itself, length 0) and describes the depth in a camera's `Camera:DepthMap` (`DepthMap:Format`, `Near`,
`Far`, `Units`, `DepthURI` naming the depth item). The items follow the primary image back to back, each
followed by its padding, so they fill the file's tail. Lengths are checked against the file before any read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from refocus_cli.depth.range_encoding import RangeEncoding, decode_image_bytes
from refocus_cli.depth.xmp import XmpPackets
from refocus_cli.errors import InputError
from refocus_cli.io.depth_files import DepthMap

CONTAINER = "{http://ns.google.com/photos/dd/1.0/container/}"
ITEM = "{http://ns.google.com/photos/dd/1.0/item/}"
CAMERA = "{http://ns.google.com/photos/dd/1.0/camera/}"
DEPTH_MAP = "{http://ns.google.com/photos/dd/1.0/depthmap/}"


@dataclass(frozen=True)
class ContainerItem:
    """One entry of the container directory."""

    mime: str
    length: int
    padding: int
    uri: str


def dynamic_depth(path: Path, xmp: XmpPackets, size_hw: tuple[int, int]) -> DepthMap | None:
    """The depth map of a Dynamic Depth JPEG (its XMP already read), resized to the photo; None if it has none.

    Raises:
        InputError: the metadata is there but malformed, inconsistent with the file, or over the size caps.
    """
    roots = [root for root in (xmp.standard, xmp.extended) if root is not None]
    depth_map = next((element for root in roots for element in root.iter(f"{CAMERA}DepthMap")), None)
    if depth_map is None:
        return None
    properties = _properties(depth_map, DEPTH_MAP)
    items = [_item(path, element) for root in roots for element in root.iter(f"{CONTAINER}Item")]
    uri = properties.get("DepthURI")
    depth_item = next((k for k, item in enumerate(items) if item.uri == uri), None)
    if uri is None or depth_item is None or depth_item == 0:
        raise InputError(path, f"Dynamic Depth names depth item {uri!r}, which its container does not hold")
    raw = _item_bytes(path, items, depth_item)
    encoding = RangeEncoding.from_properties(path, properties.get, "Dynamic Depth")
    values = decode_image_bytes(path, raw, "Dynamic Depth")
    return encoding.depth_map(values, size_hw, "embedded:DynamicDepth")


def _properties(element: ET.Element, namespace: str) -> dict[str, str]:
    """Properties of a namespace on an XMP struct, written as attributes or as child elements."""
    found = {key[len(namespace) :]: value for key, value in element.attrib.items() if key.startswith(namespace)}
    for child in element.iter():
        if child.tag.startswith(namespace) and child.text and child.text.strip():
            found.setdefault(child.tag[len(namespace) :], child.text.strip())
    return found


def _item(path: Path, element: ET.Element) -> ContainerItem:
    properties = _properties(element, ITEM)
    try:
        length, padding = int(properties.get("Length", "0")), int(properties.get("Padding", "0"))
    except ValueError as exc:
        raise InputError(path, "Dynamic Depth item length or padding is not a whole number") from exc
    if length < 0 or padding < 0:
        raise InputError(path, "Dynamic Depth item length or padding is negative")
    return ContainerItem(properties.get("Mime", ""), length, padding, properties.get("DataURI", ""))


def _item_bytes(path: Path, items: list[ContainerItem], index: int) -> bytes:
    """The bytes of item `index` (> 0): the items after the primary image fill the end of the file."""
    size = path.stat().st_size
    tail = sum(item.length + item.padding for item in items[1:])
    if tail > size:
        raise InputError(path, f"Dynamic Depth items claim {tail} bytes but the file has {size}")
    start = size - tail + sum(item.length + item.padding for item in items[1:index])
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(items[index].length)
