"""Image sequences as clips: a folder of frames (natural order) or a printf pattern such as `frames/%05d.png`.

Reading yields the same `Frame`s as a video (pts None, time = index / fps); writing puts each frame in its own
file, atomically, so an interrupted run leaves whole frames only and `resume` can pick up where it stopped.
Pixels are [H,W,3] sRGB as stored, uint8 (8-bit files) or uint16 (16-bit PNG or TIFF, full 0..65535 range).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from refocus_cli.errors import InputError, OutputError, SettingsError, missing_or_unreadable
from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.run_paths import check_readable_file

if TYPE_CHECKING:
    import numpy as np

    from refocus_cli.io.video_types import Frame, VideoInfo

DEFAULT_FPS = Fraction(24)
"""Frame rate of a sequence when the caller gives none."""

FRAME_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".bmp")
"""Image files a folder sequence is made of (lower-case suffixes); hidden files are ignored."""

WRITE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
"""Frame formats a `SequenceWriter` writes."""

FOLDER_TEMPLATE = "%06d.png"
"""File names of frames written into a folder given as the output."""

_CODECS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "mjpeg", ".jpeg": "mjpeg", ".webp": "webp"}
_FIELD = re.compile(r"%(0?\d*)d")
JPEG_QUALITY = 95


# ----------------------------------------------------------------------------------------------------- naming


def is_pattern(path: Path | str) -> bool:
    """Whether `path` is a printf pattern: one `%d` or `%0Nd` field in its file name.

    >>> is_pattern("frames/%05d.png"), is_pattern("frames/img_%d.tif"), is_pattern("clip.mp4")
    (True, True, False)
    """
    return len(_FIELD.findall(Path(path).name)) == 1 and Path(path).name.count("%") == 1


def natural_key(name: str) -> list[int | str]:
    """Sort key that puts `f2.png` before `f10.png`.

    >>> sorted(["f10.png", "f2.png", "F1.png"], key=natural_key)
    ['F1.png', 'f2.png', 'f10.png']
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def pattern_numbers(pattern: Path) -> dict[int, Path]:
    """Frame number -> file, for every existing file the printf `pattern` names (`%05d` matches `00007` only,
    never `7`); numbers may start anywhere and have gaps.

    Raises:
        InputError: the pattern's folder does not exist.
    """
    folder, template = pattern.parent, pattern.name
    field = _FIELD.search(template)
    if field is None:
        raise ValueError(f"not a printf pattern: {pattern}")
    matcher = re.compile(re.escape(template[: field.start()]) + r"(\d+)" + re.escape(template[field.end() :]))
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise InputError(pattern, "no such folder" if isinstance(exc, FileNotFoundError) else str(exc)) from exc
    found = {}
    for name in names:
        match = matcher.fullmatch(name)
        if match and template % int(match.group(1)) == name:
            found[int(match.group(1))] = folder / name
    return dict(sorted(found.items()))


def sequence_files(path: Path | str) -> list[Path]:
    """The frames of a sequence in order: a folder's image files in natural order, or a pattern's files by number.
    Each must be a regular file (a FIFO among the frames would hang the reader).

    Raises:
        InputError: no such folder; no frames match; a frame that is not a regular file.
    """
    files = _listed_frames(path)
    for file in files:
        check_readable_file(file)
    return files


def _listed_frames(path: Path | str) -> list[Path]:
    if is_pattern(path):
        files = list(pattern_numbers(Path(path)).values())
        if not files:
            raise InputError(path, "no frames match this pattern")
        return files
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "no such file")
    names = [n for n in os.listdir(folder) if not n.startswith(".") and Path(n).suffix.lower() in FRAME_SUFFIXES]
    if not names:
        raise InputError(folder, f"no frames match: the folder has no {', '.join(FRAME_SUFFIXES)} files")
    return [folder / name for name in sorted(names, key=natural_key)]


def as_fps(fps: Fraction | float | str | None) -> Fraction:
    """A positive frame rate from a number, a string such as "30000/1001", or None (`DEFAULT_FPS`).

    >>> as_fps(None), as_fps("30000/1001"), as_fps(29.97)
    (Fraction(24, 1), Fraction(30000, 1001), Fraction(2997, 100))

    Raises:
        SettingsError: not a positive number.
    """
    if fps is None:
        return DEFAULT_FPS
    try:
        rate = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    except (ValueError, ZeroDivisionError) as exc:
        raise SettingsError(f"--fps must be a positive number, got {fps!r}") from exc
    if rate <= 0:
        raise SettingsError(f"--fps must be a positive number, got {fps!r}")
    return rate


# ----------------------------------------------------------------------------------------------------- reading


def probe_sequence(path: Path | str, *, fps: Fraction | float | str | None = None) -> VideoInfo:
    """Describe a folder or pattern sequence; every file's header is read so that a size mismatch fails now.

    Raises:
        InputError: no frames; a file is not an image or differs in size from the first.
    """
    from refocus_cli.io.video_types import VideoInfo

    files = sequence_files(path)
    rate = as_fps(fps)
    first = read_frame_file(files[0])
    height, width = first.shape[:2]
    for file in files[1:]:
        _check_size(file, _header_size(file), (width, height))
    bit_depth = 16 if first.dtype.itemsize == 2 else 8
    return VideoInfo(
        path=Path(path),
        width=width,
        height=height,
        frame_count=len(files),
        fps=rate,
        time_base=1 / rate,
        duration_s=float(len(files) / rate),
        rotation_deg=0,
        bit_depth=bit_depth,
        pix_fmt="rgb48" if bit_depth == 16 else "rgb24",
        codec=_CODECS.get(files[0].suffix.lower(), files[0].suffix.lower().lstrip(".")),
        is_sequence=True,
    )


def read_sequence(path: Path | str, *, start: int = 0, fps: Fraction | float | str | None = None) -> Iterator[Frame]:
    """Yield the frames from index `start` on, one file at a time, as uint8 or uint16 like the first frame.

    Raises:
        InputError: no frames; a file is unreadable, not an image, or differs in size from the first.
    """
    from refocus_cli.io.video_types import Frame

    files = sequence_files(path)
    rate = as_fps(fps)
    first = read_frame_file(files[0])
    size, bit_depth = (first.shape[1], first.shape[0]), 16 if first.dtype.itemsize == 2 else 8
    for index in range(max(start, 0), len(files)):
        pixels = first if index == 0 else read_frame_file(files[index])
        _check_size(files[index], (pixels.shape[1], pixels.shape[0]), size)
        yield Frame(index=index, pts=None, time_s=float(index / rate), pixels=to_bit_depth(pixels, bit_depth))


def read_frame_file(path: Path) -> np.ndarray:
    """[H,W,3] sRGB of one image file as stored: uint8, or uint16 for 16-bit files; grey repeated, alpha dropped.

    Raises:
        InputError: missing, unreadable, not an image, or of float samples.
    """
    import cv2
    import numpy as np

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, f"cannot read ({exc.strerror or exc})") from exc
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        raise InputError(path, "not an image (or a format we cannot read)")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(path, f"{pixels.dtype} samples are not supported (use 8- or 16-bit images)")
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
    return np.ascontiguousarray(pixels[:, :, 2::-1])  # BGR(A) -> RGB


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header alone."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.size
    except UnidentifiedImageError as exc:
        raise InputError(path, "not an image (or a format we cannot read)") from exc
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, f"cannot read ({exc})") from exc


def _check_size(path: Path, size: tuple[int, int], first: tuple[int, int]) -> None:
    """Raise `InputError` unless a frame's (width, height) equals the first frame's."""
    if size != first:
        raise InputError(path, f"is {size[0]}x{size[1]} but the sequence's first frame is {first[0]}x{first[1]}")


def to_bit_depth(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """[H,W,3] uint8 or uint16 -> uint8 (`bit_depth` 8) or uint16 (otherwise), rescaled to the full range.

    >>> import numpy as np
    >>> to_bit_depth(np.array([0, 128, 255], np.uint8), 16).tolist(), to_bit_depth(np.array([65535], np.uint16), 8)
    ([0, 32896, 65535], array([255], dtype=uint8))
    """
    import numpy as np

    if bit_depth == 8 and pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if bit_depth != 8 and pixels.dtype == np.uint8:
        return pixels.astype(np.uint16) * 257
    return pixels


# ----------------------------------------------------------------------------------------------------- writing


class SequenceWriter:
    """Writes frames as numbered image files, each atomically (temp file, then rename), named by frame index.

    `target` is a folder (frames named `FOLDER_TEMPLATE`, PNG) or a printf pattern whose suffix picks the format
    (.png, .tif, .jpg). PNG and TIFF are 16-bit when the source has more than 8 bits; JPEG is always 8-bit.
    The folder is made if missing (its parent must exist). Without `overwrite` or `resume`, a folder that
    already holds frames of this naming is refused; stale frames beyond the new clip's end are left alone.

    Raises:
        OutputError: unsupported suffix; the parent folder is missing; frames exist and neither flag is set.
    """

    def __init__(self, target: Path | str, source: VideoInfo, *, overwrite: bool, resume: bool = False) -> None:
        self.target = Path(target)
        pattern = self.target if is_pattern(target) else self.target / FOLDER_TEMPLATE
        self.folder, self.template = pattern.parent, pattern.name
        suffix = Path(self.template).suffix.lower()
        if suffix not in WRITE_SUFFIXES:
            raise OutputError(self.target, f"cannot write '{suffix}' frames (use {', '.join(WRITE_SUFFIXES)})")
        self.bit_depth = 16 if source.bit_depth > 8 and suffix in (".png", ".tif", ".tiff") else 8
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(self.folder, "exists and is not a folder")
        source_folder = source.path if is_folder(source.path) else source.path.parent
        if source.is_sequence and _same_folder(self.folder, source_folder):
            raise OutputError(self.target, "is in the input sequence's folder; choose another output folder")
        if not self.folder.parent.is_dir():
            raise OutputError(self.folder, "its parent folder does not exist")
        if not (overwrite or resume) and self.folder.is_dir() and pattern_numbers(pattern):
            raise OutputError(self.target, "already holds frames; pass --overwrite to replace them or --resume")
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(self.folder, f"cannot create ({exc.strerror or exc})") from exc

    def frame_path(self, index: int) -> Path:
        """The file of frame `index` (0-based)."""
        return self.folder / (self.template % index)

    def done(self, index: int) -> bool:
        """Whether frame `index` was already written (by this or an earlier, interrupted run)."""
        return self.frame_path(index).is_file()

    def first_missing(self) -> int:
        """The lowest frame index not yet written: where a resumed run starts."""
        index = 0
        while self.done(index):
            index += 1
        return index

    def write(self, frame: Frame) -> None:
        """Write `frame.pixels` ([H,W,3] uint8 or uint16) as the file of `frame.index`, replacing any there.

        Raises:
            OutputError: the file cannot be written.
        """
        path = self.frame_path(frame.index)
        pixels = to_bit_depth(frame.pixels, self.bit_depth)
        with atomic_output(path, overwrite=True) as tmp:
            tmp.write_bytes(encode_frame(pixels, path.suffix.lower()))

    def close(self) -> None:
        """Nothing to finish: every frame is complete once `write` returns."""

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def is_folder(path: Path) -> bool:
    """Whether a sequence path is a folder (not a pattern)."""
    return not is_pattern(path) and path.is_dir()


def _same_folder(a: Path, b: Path) -> bool:
    """Whether two folders are one (both must exist to be the same)."""
    try:
        return a.is_dir() and b.is_dir() and os.path.samefile(a, b)
    except OSError:
        return False


def encode_frame(pixels: np.ndarray, suffix: str) -> bytes:
    """The bytes of an image file of [H,W,3] uint8 or uint16 sRGB (uint16 for PNG and TIFF only), by `suffix`."""
    import cv2
    import numpy as np

    if suffix in (".tif", ".tiff") or (suffix == ".png" and pixels.dtype == np.uint16):
        from refocus_cli.io.images import png16_bytes, tiff_bytes

        return tiff_bytes(pixels) if suffix != ".png" else png16_bytes(pixels)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(pixels[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"cv2 could not encode {suffix}")
    return bytes(encoded)
