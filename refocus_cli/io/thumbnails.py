"""Small previews of anything a batch reads or writes: stills, videos, GIFs, frame folders and printf patterns.

`thumbnail` never raises for bad content: a file it cannot preview (missing, unreadable, corrupt, of a kind
with no picture such as .npy) gives None. Stills go through `io.images`, so 16-bit PNG and TIFF (scaled to
8 bits, not clipped), HEIC and EXIF orientation look as they do everywhere else in the project. Heavy imports
(Pillow, numpy, PyAV, torch) happen on the first call only.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.errors import RefocusError
from refocus_cli.io.formats import VIDEO_SUFFIXES
from refocus_cli.io.sequences import FRAME_SUFFIXES, is_pattern, natural_key, pattern_numbers

if TYPE_CHECKING:
    import numpy as np
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream
    from PIL import Image

"""Files previewed by their middle frame, decoded with PyAV (lower-case suffixes)."""

NO_PREVIEW_SUFFIXES = (".npy", ".pfm", ".json", ".txt", ".js", ".html", ".htm")
"""Files that hold no picture a preview could show (they are listed, not drawn)."""

_DEPTH_STEMS = ("depth", "-depth", "-depth-preview")
"""Image stems a folder search passes over: the depth maps beside a stack's frames (`depth.png`)."""


def thumbnail(path: Path, max_side_px: int) -> Image.Image | None:
    """An 8-bit sRGB RGB preview of `path`, its longest side at most `max_side_px` (aspect kept, never enlarged).

    Stills: the image, EXIF orientation applied. Videos (`VIDEO_SUFFIXES`): the middle frame, reached by seeking
    near the middle of the clip. Animated GIFs: the middle frame. A folder (a `refocus stack --format png|html`
    output or a frame sequence): the middle image in natural name order, depth maps left out, else the middle
    image of the subfolder holding the most images. A printf pattern (`frames/%05d.png`): its middle frame.

    Returns None when nothing can be previewed: a missing or unreadable path, corrupt content, or a file with no
    picture (`NO_PREVIEW_SUFFIXES`).
    """
    if max_side_px < 1:
        raise ValueError(f"max_side_px must be positive, got {max_side_px}")
    try:
        image = _preview(Path(path))
    except _failures():
        return None
    if image is None:
        return None
    image = image.convert("RGB") if image.mode != "RGB" else image
    image.thumbnail((max_side_px, max_side_px), _lanczos(), reducing_gap=3.0)
    return image


def _failures() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "cannot preview this": what Pillow, PyAV, OpenCV and the OS raise for bad files."""
    import av
    from PIL import Image

    return (
        RefocusError,
        OSError,
        ValueError,
        EOFError,
        SyntaxError,
        IndexError,
        struct.error,
        zlib.error,
        Image.DecompressionBombError,
        av.FFmpegError,
    )


def _lanczos() -> Image.Resampling:
    from PIL import Image

    return Image.Resampling.LANCZOS


def _preview(path: Path) -> Image.Image | None:
    """The full-size preview picture of `path` (any mode), or None when it has none."""
    if is_pattern(path):
        frames = list(pattern_numbers(path).values())
        return _still(frames[len(frames) // 2]) if frames else None
    if path.is_dir():
        middle = middle_image(path)
        return _still(middle) if middle is not None else None
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix in NO_PREVIEW_SUFFIXES:
        return None
    if suffix in VIDEO_SUFFIXES:
        return _video_middle(path)
    if suffix == ".gif":
        return _gif_middle(path)
    return _still(path)


def middle_image(folder: Path) -> Path | None:
    """The middle image file of `folder` in natural name order (hidden files and depth maps left out); when it
    has none, that of its subfolder holding the most images (first in natural order on a tie); else None."""
    own = _images_in(folder)
    if own:
        return own[len(own) // 2]
    best: list[Path] = []
    for sub in sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_name_key):
        images = _images_in(sub)
        if len(images) > len(best):
            best = images
    return best[len(best) // 2] if best else None


def _name_key(path: Path) -> list[int | str]:
    return natural_key(path.name)


def _images_in(folder: Path) -> list[Path]:
    """Image files directly in `folder`, natural order, leaving out hidden files and depth maps."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    images = []
    for name in names:
        stem, suffix = os.path.splitext(name)
        if name.startswith(".") or suffix.lower() not in FRAME_SUFFIXES or stem.lower().endswith(_DEPTH_STEMS):
            continue
        if (folder / name).is_file():
            images.append(folder / name)
    return sorted(images, key=_name_key)


def _still(path: Path) -> Image.Image:
    """A still image as 8-bit RGB, oriented; 16-bit samples are scaled to 8 bits (65535 -> 255)."""
    from PIL import Image

    from refocus_cli.io.images import read_image_codes
    from refocus_cli.io.sequences import to_bit_depth

    _, pixels = read_image_codes(path)
    return Image.fromarray(to_bit_depth(pixels, 8))


def _gif_middle(path: Path) -> Image.Image:
    """The middle frame of a GIF (its only frame for a still GIF), composited as Pillow shows it."""

    from refocus_cli.io.images import open_image

    middle: Image.Image | None = None
    with open_image(path) as img:
        frames = int(getattr(img, "n_frames", 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette transparency notes on some frames
            img.seek(frames // 2)
            middle = img.convert("RGB")
    if middle is None:
        raise ValueError(f"{path}: no frame decoded")
    return middle


def _video_middle(path: Path) -> Image.Image | None:
    """The frame shown at the middle of a clip, display rotation applied; None when no frame decodes.

    Seeks to the keyframe before the middle and decodes forward from there (a few frames, not the clip). A
    stream of unknown duration has its packets counted first (demuxed, not decoded).
    """
    import av

    with av.open(str(path), mode="r") as container:
        stream = _first_video_stream(container)
        if stream is None:
            return None
        stream.thread_type = "AUTO"
        middle_pts = _middle_pts(container, stream)
        if middle_pts is None:
            frame = _frame_at_index(container, stream, _packet_count(container, stream) // 2)
        else:
            frame = _frame_at_pts(container, stream, middle_pts)
        return _frame_image(frame) if frame is not None else None


def _first_video_stream(container: InputContainer) -> VideoStream | None:
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _middle_pts(container: InputContainer, stream: VideoStream) -> int | None:
    """The middle of the clip in the stream's time base, or None when neither stream nor container knows the
    duration."""
    import av

    time_base = stream.time_base
    if time_base is None:
        return None
    start = stream.start_time or 0
    if stream.duration:
        return start + stream.duration // 2
    if container.duration:
        seconds = Fraction(container.duration, av.time_base) / 2
        return start + int(seconds / time_base)
    return None


def _frame_at_pts(container: InputContainer, stream: VideoStream, target_pts: int) -> VideoFrame | None:
    """The first frame at or after `target_pts` (the last one if the clip ends before), from the keyframe before
    it; from the clip's start when seeking fails."""
    import av

    try:
        container.seek(target_pts, stream=stream, backward=True, any_frame=False)
    except av.FFmpegError:
        container.seek(0)
    last = None
    for frame in _decoded(container, stream):
        if frame.pts is not None and frame.pts >= target_pts:
            return frame
        last = frame
    return last


def _packet_count(container: InputContainer, stream: VideoStream) -> int:
    """Video packets to the clip's end (demuxed, not decoded); the container is rewound afterwards."""
    count = sum(packet.size > 0 for packet in container.demux(stream))
    container.seek(0)
    return count


def _frame_at_index(container: InputContainer, stream: VideoStream, index: int) -> VideoFrame | None:
    """Frame `index` decoded from the start (the last frame if there are fewer)."""
    last = None
    for i, frame in enumerate(_decoded(container, stream)):
        last = frame
        if i >= index:
            break
    return last


def _decoded(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame]:
    """The stream's frames decoded from where the container stands (a seam the tests count through)."""
    yield from container.decode(stream)


def _frame_image(frame: VideoFrame) -> Image.Image:
    """A decoded frame as an 8-bit RGB image, turned upright as its display matrix says."""
    import numpy as np
    from PIL import Image

    from refocus_cli.io.video import frame_from_av, rotation_clockwise

    pixels: np.ndarray = frame_from_av(frame, 0, bit_depth=8, fps=Fraction(1)).pixels
    quarter_turns = rotation_clockwise(frame.rotation) // 90
    return Image.fromarray(np.ascontiguousarray(np.rot90(pixels, k=-quarter_turns)))
