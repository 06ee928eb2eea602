"""Contact sheets of a batch: thumbnails of every kind of file, the HTML page (parsed, and opened in a real
headless Chromium from file://) and the JPEG image, with synthetic files made here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import av
import numpy as np
import pytest
from PIL import Image

from refocus_cli.errors import OutputError
from refocus_cli.io import contact_sheet_html, contact_sheet_image, thumbnails
from refocus_cli.io.contact_sheet import ContactSheet, SheetEntry, check_sheet_path, write_contact_sheet
from refocus_cli.io.contact_sheet_image import MAX_SIDE_PX, THUMB_SIDES_PX, plan_layout
from refocus_cli.io.images import png16_bytes
from refocus_cli.io.thumbnails import thumbnail
from tests.browser import Browser

COLOURS = [(i * 15, 255 - i * 15, (i * 67) % 256) for i in range(16)]
"""Distinct solid colours, one per frame of the synthetic clips and stacks."""
ODD_NAME = 'we<b>&"ird #1.jpg'


def _photo(path: Path, size_wh: tuple[int, int] = (120, 80)) -> Path:
    """A horizontal gradient photo."""
    ramp = np.linspace(0, 255, size_wh[0], dtype=np.uint8)
    pixels = np.stack([np.tile(ramp, (size_wh[1], 1))] * 3, axis=2)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def _clip(path: Path, codec: str = "libx264") -> Path:
    """16 frames of 64x48, frame i a solid `COLOURS[i]`, keyframes every 4 frames (so seeking matters)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=16)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.gop_size = 4
        for colour in COLOURS:
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), colour, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _solid(path: Path, colour: tuple[int, int, int], size_wh: tuple[int, int] = (40, 30)) -> Path:
    Image.new("RGB", size_wh, colour).save(path)
    return path


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 8) -> bool:
    return max(abs(int(a) - int(b)) for a, b in zip(pixel, colour, strict=True)) <= tolerance


# ----------------------------------------------------------------------------------------------------- thumbnails


def test_a_photo_keeps_its_aspect_and_is_never_enlarged(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "photo.jpg")
    assert thumbnail(photo, 60).size == (60, 40)
    assert thumbnail(photo, 500).size == (120, 80)
    small = thumbnail(photo, 60)
    assert small is not None and small.mode == "RGB"


def test_the_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown turned a quarter clockwise: portrait
    Image.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "turned.jpg", exif=exif.tobytes())
    assert thumbnail(tmp_path / "turned.jpg", 40).size == (20, 40)


def test_sixteen_bit_pngs_are_scaled_to_eight_bits_not_clipped(tmp_path: Path) -> None:
    Image.fromarray(np.full((30, 40), 32768, np.uint16)).save(tmp_path / "depth.png")  # a 16-bit disparity map
    grey = thumbnail(tmp_path / "depth.png", 20)
    assert grey is not None and grey.size == (20, 15)
    assert grey.getpixel((5, 5)) == (128, 128, 128)  # clipping would give 255
    colour = np.zeros((30, 40, 3), np.uint16)
    colour[...] = (65535, 16384, 0)
    (tmp_path / "colour16.png").write_bytes(png16_bytes(colour))
    preview = thumbnail(tmp_path / "colour16.png", 40)
    assert preview is not None and _close(preview.getpixel((5, 5)), (255, 64, 0), tolerance=1)


@pytest.mark.parametrize(("name", "codec"), [("clip.mp4", "libx264"), ("clip.webm", "libvpx"), ("clip.mkv", "mpeg4")])
def test_a_video_is_previewed_by_its_middle_frame(tmp_path: Path, name: str, codec: str) -> None:
    clip = _clip(tmp_path / name, codec)
    preview = thumbnail(clip, 32)
    assert preview is not None and preview.size == (32, 24)
    pixel = preview.getpixel((16, 12))
    nearest = min(range(16), key=lambda i: sum((int(a) - b) ** 2 for a, b in zip(pixel, COLOURS[i], strict=True)))
    assert nearest == 8, (pixel, COLOURS[8])


def test_a_long_video_is_not_decoded_to_its_middle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = tmp_path / "long.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = 32, 32, "yuv420p", 8
        for i in range(96):
            colour = (255, 0, 0) if i == 48 else (0, 0, 255)
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), colour, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    decoded = []

    def counting(container: Any, stream: Any) -> Iterator[Any]:
        for frame in container.decode(stream):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(thumbnails, "_decoded", counting)
    preview = thumbnail(clip, 16)
    assert preview is not None and _close(preview.getpixel((8, 8)), (255, 0, 0), tolerance=40)
    assert 1 <= len(decoded) <= 8  # from the keyframe before the middle, not from the start


def test_an_animated_gif_is_previewed_by_its_middle_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 10), colour) for colour in COLOURS[:5]]
    frames[0].save(tmp_path / "sweep.gif", save_all=True, append_images=frames[1:], duration=100)
    preview = thumbnail(tmp_path / "sweep.gif", 100)
    assert preview is not None and preview.size == (20, 10)
    assert _close(preview.getpixel((3, 3)), COLOURS[2], tolerance=4)


def _png_stack(folder: Path) -> Path:
    """What `refocus stack --format png` writes: frame_000.png ... and index.json."""
    folder.mkdir()
    for i, colour in enumerate(COLOURS[:5]):
        _solid(folder / f"frame_{i:03d}.png", colour)
    (folder / "index.json").write_text(json.dumps({"frames": 5}))
    return folder


def _html_stack(folder: Path) -> Path:
    """What `refocus stack --format html` writes: index.html, frames/NNN.jpg, depth.js and depth.png."""
    (folder / "frames").mkdir(parents=True)
    for i, colour in enumerate(COLOURS[:5]):
        _solid(folder / "frames" / f"{i:03d}.jpg", colour)
    (folder / "index.html").write_text("<!DOCTYPE html><title>page</title>")
    (folder / "depth.js").write_text("var depth = '';")
    _solid(folder / "depth.png", (255, 255, 255))
    return folder


def test_folders_and_patterns_are_previewed_by_their_middle_image(tmp_path: Path) -> None:
    png = thumbnail(_png_stack(tmp_path / "png-stack"), 64)
    assert png is not None and _close(png.getpixel((2, 2)), COLOURS[2], tolerance=1)
    page = thumbnail(_html_stack(tmp_path / "html-stack"), 64)  # frames/002.jpg, not the depth map beside them
    assert page is not None and _close(page.getpixel((2, 2)), COLOURS[2], tolerance=6)
    sequence = tmp_path / "frames"
    sequence.mkdir()
    for i in range(1, 12):  # natural order: 2 before 10, the middle of 11 frames is frame 6
        _solid(sequence / f"f{i}.png", COLOURS[i])
    assert _close(thumbnail(sequence, 64).getpixel((2, 2)), COLOURS[6], tolerance=1)
    assert _close(thumbnail(sequence / "f%d.png", 64).getpixel((2, 2)), COLOURS[6], tolerance=1)


def test_what_cannot_be_previewed_gives_none(tmp_path: Path) -> None:
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (tmp_path / "corrupt.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(200))
    (tmp_path / "text.jpg").write_text("not a photo")
    np.save(tmp_path / "depth.npy", np.zeros((4, 4), np.float32))
    (tmp_path / "empty").mkdir()
    for name in ("missing.jpg", "corrupt.png", "corrupt.mp4", "text.jpg", "depth.npy", "empty", "none/%04d.png"):
        assert thumbnail(tmp_path / name, 32) is None, name


# ----------------------------------------------------------------------------------------------------- a batch


@pytest.fixture
def batch(tmp_path: Path) -> ContactSheet:
    """A batch of five inputs: a photo with depth outputs, an oddly named photo, a clip, a skipped photo and a
    failed corrupt file; outputs in out/, the sheet to be written in sheets/."""
    photos, out = tmp_path / "in", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    (tmp_path / "sheets").mkdir()
    photo = _photo(photos / "photo.jpg")
    _photo(out / "photo.jpg")
    Image.fromarray(np.full((80, 120), 20000, np.uint16)).save(out / "photo-depth.png")
    _solid(out / "photo-depth-preview.png", (20, 40, 200), (120, 80))
    np.save(out / "photo-depth.npy", np.zeros((8, 12), np.float32))
    odd = _photo(photos / ODD_NAME, (60, 90))
    _photo(out / ODD_NAME, (60, 90))
    clip = _clip(photos / "clip.mp4")
    _clip(out / "clip.mp4")
    old = _photo(photos / "old.jpg", (50, 50))
    _photo(out / "old.jpg", (50, 50))
    bad = photos / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    names = ("photo.jpg", "photo-depth.png", "photo-depth-preview.png", "photo-depth.npy")
    depth_outputs = tuple(out / name for name in names)
    return ContactSheet(
        title="refocus image",
        settings=(("--blur", "8"), ("--focus", "auto <subject>"), ("--save-depth", "yes")),
        entries=(
            SheetEntry(photo, depth_outputs, "done", "focus 0.62 at (60,40); blur 8; 0.41 s"),
            SheetEntry(odd, (out / ODD_NAME,), "done", 'focus <near> & "far"'),
            SheetEntry(clip, (out / "clip.mp4",), "done", "16 frames, 3.2 fps"),
            SheetEntry(old, (out / "old.jpg",), "skipped", "output exists"),
            SheetEntry(bad, (), "failed", f"{bad}: corrupt or truncated image <eof>"),
        ),
    )


class _Page(HTMLParser):
    """What the tests read from the page: entry sections, links, images, and the failures section's text."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[str] = []
        self.hrefs: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self.failures: list[str] = []
        self._in_failures = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and "entry" in (found.get("class") or "").split():
            self.entries.append(found.get("class") or "")
        if tag == "section" and found.get("id") == "failures":
            self._in_failures = True
        if tag == "a":
            self.hrefs.append(found["href"] or "")
        if tag == "img":
            self.images.append(found["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_failures:
            self.failures.append(data)


def _parsed(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_the_html_sheet_shows_every_entry_with_links_that_resolve(batch: ContactSheet, tmp_path: Path) -> None:
    sheet = tmp_path / "sheets" / "batch.html"
    write_contact_sheet(batch, sheet, overwrite=False)
    raw = sheet.read_text(encoding="utf-8")
    page = _parsed(sheet)
    assert [c.split()[1] for c in page.entries] == ["done", "done", "done", "skipped", "failed"]
    text = " ".join(page.text)
    assert "refocus image" in text and "--blur" in text and "auto <subject>" in text
    assert "3 done, 1 skipped, 1 failed" in text
    assert "corrupt or truncated image <eof>" in " ".join(page.failures)
    assert "depth preview" in text and "photo-depth.npy" in text
    assert "http:" not in raw and "https:" not in raw
    assert ODD_NAME not in raw and 'focus <near> & "far"' not in raw  # escaped...
    assert ODD_NAME in text and 'focus <near> & "far"' in text  # ...and read back as written
    # inputs and outputs with a picture are thumbnails; the .npy is a link only; the corrupt input has none
    assert len(page.images) == 1 + 3 + 2 + 2 + 2
    assert all(src.startswith("data:image/jpeg;base64,") for src in page.images)
    assert page.hrefs and all(not urlparse(href).scheme for href in page.hrefs)  # relative, no file:// needed
    for href in page.hrefs:
        assert (sheet.parent / unquote(href)).exists(), href
    assert sum(unquote(h).endswith("photo-depth.npy") for h in page.hrefs) == 1


def test_thumbnails_are_made_once_per_file(
    batch: ContactSheet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Path] = []

    def counting(path: Path, side_px: int) -> Image.Image | None:
        made.append(path)
        return thumbnail(path, side_px)

    monkeypatch.setattr(contact_sheet_html, "thumbnail", counting)
    repeated = ContactSheet("t", (), batch.entries * 3)
    write_contact_sheet(repeated, tmp_path / "sheets" / "x.html", overwrite=False)
    assert sorted(made) == sorted(set(made)) and len(made) == 1 + 3 + 2 + 2 + 2 + 1
    assert len(_parsed(tmp_path / "sheets" / "x.html").entries) == 15


def test_links_to_stack_folders_and_missing_outputs(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "photo.jpg")
    page = _html_stack(tmp_path / "photo-stack")
    gone = tmp_path / "gone.jpg"
    sheet = ContactSheet(
        "refocus stack", (), (SheetEntry(photo, (page,), "done", "5 frames"), SheetEntry(photo, (gone,), "done", ""))
    )
    write_contact_sheet(sheet, tmp_path / "s.html", overwrite=False)
    parsed = _parsed(tmp_path / "s.html")
    assert "photo-stack/index.html" in parsed.hrefs  # the stack's page itself
    assert not any("gone" in href for href in parsed.hrefs)  # nothing to link to
    assert "missing" in " ".join(parsed.text)


def test_chromium_shows_the_sheet_from_file_urls_with_no_network(
    batch: ContactSheet, tmp_path: Path, chromium: str
) -> None:
    sheet = tmp_path / "sheets" / "batch.html"
    write_contact_sheet(batch, sheet, overwrite=False)
    browser = Browser(chromium, tmp_path / "profile")
    try:
        browser.open(sheet.as_uri())
        images = browser.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 10 and all(complete and width > 0 for complete, width in images)
        assert browser.evaluate("document.querySelectorAll('section.entry').length") == 5
        assert browser.evaluate("document.querySelectorAll('section.entry.failed img').length") == 0
        failures = browser.evaluate("document.getElementById('failures').textContent")
        assert "Failures (1)" in failures and "corrupt.jpg" in failures and "<eof>" in failures
        resources = browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert not [url for url in resources if url.startswith(("http:", "https:"))]
        links = browser.evaluate("Array.from(document.links).map(a => a.href)")
        assert links and all(url.startswith("file://") for url in links)
        for url in links:
            assert Path(unquote(urlparse(url).path)).exists(), url
        assert browser.evaluate("document.body.scrollWidth <= window.innerWidth")  # no sideways scrolling
    finally:
        browser.close()


# ----------------------------------------------------------------------------------------------------- JPEG


def test_the_jpeg_sheet_grows_with_its_entries(batch: ContactSheet, tmp_path: Path) -> None:
    short = ContactSheet(batch.title, batch.settings, batch.entries[:2])
    write_contact_sheet(short, tmp_path / "short.jpg", overwrite=False)
    write_contact_sheet(batch, tmp_path / "sheets" / "all.jpeg", overwrite=False)
    with Image.open(tmp_path / "short.jpg") as small, Image.open(tmp_path / "sheets" / "all.jpeg") as full:
        assert small.format == full.format == "JPEG"
        assert full.height > small.height and full.width >= small.width
        failures_band = np.asarray(full.convert("RGB"))[-60:]  # the failures, in red, at the bottom
        red = (failures_band[..., 0] > 120) & (failures_band[..., 1] < 80) & (failures_band[..., 2] < 80)
        assert red.sum() > 20


def test_a_long_batch_shrinks_its_thumbnails_then_stops_at_the_jpeg_limit() -> None:
    fits = plan_layout(200, 3, tiles=3, header_px=120)
    assert THUMB_SIDES_PX[-1] < fits.thumb_px < THUMB_SIDES_PX[0] and fits.rows == 200 and fits.failure_lines == 3
    assert fits.height_px <= MAX_SIDE_PX
    long = plan_layout(2000, 2000, tiles=4, header_px=120)
    assert long.thumb_px == THUMB_SIDES_PX[-1] and 0 < long.rows < 2000 and 0 < long.failure_lines < 2000
    assert long.height_px <= MAX_SIDE_PX and long.width_px <= MAX_SIDE_PX
    just_over = plan_layout(long.rows + 1, 2000, tiles=4, header_px=120)
    assert just_over.rows == long.rows


def test_a_truncated_jpeg_sheet_is_drawn_within_its_limit(batch: ContactSheet, tmp_path: Path) -> None:
    long = ContactSheet(batch.title, batch.settings, batch.entries * 400)  # 2000 entries of the same few files
    out = tmp_path / "sheets" / "long.jpg"
    write_contact_sheet(long, out, overwrite=False)  # at the real limit
    with Image.open(out) as image:
        assert image.height <= MAX_SIDE_PX
    plan = plan_layout(2000, 400, tiles=4, header_px=120, max_side_px=1500)
    contact_sheet_image.write_jpeg_sheet(long, tmp_path / "small.jpg", max_side_px=1500)
    with Image.open(tmp_path / "small.jpg") as image:
        assert image.height <= 1500 and plan.rows < 2000


# ----------------------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize("name", ["sheet.png", "sheet.txt", "sheet", "sheet.html.gz"])
def test_only_html_and_jpeg_sheets_are_written(name: str, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=f"^{name}: a contact sheet is .html, .htm, .jpg or .jpeg"):
        check_sheet_path(Path(name))
    with pytest.raises(OutputError):
        write_contact_sheet(ContactSheet("t", (), ()), tmp_path / name, overwrite=True)
    assert not (tmp_path / name).exists()
    for good in ("a.html", "a.HTM", "a.jpg", "a.JPEG"):
        check_sheet_path(Path(good))


def test_an_existing_sheet_is_replaced_only_with_overwrite(batch: ContactSheet, tmp_path: Path) -> None:
    sheet = tmp_path / "sheets" / "batch.html"
    sheet.write_text("mine")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        write_contact_sheet(batch, sheet, overwrite=False)
    assert sheet.read_text() == "mine"
    assert sorted(p.name for p in sheet.parent.iterdir()) == ["batch.html"]  # no temporary file left
    write_contact_sheet(batch, sheet, overwrite=True)
    assert len(_parsed(sheet).entries) == 5
