"""Video clips with PyAV: probe, decode one frame at a time, and re-encode keeping the source's timing and streams.

Reading streams: `read_frames` is a generator holding one decoded frame at a time (decoder threads "AUTO").
Writing keeps every frame's pts and the source's time base, so frame rate, timestamps and duration match the
input where the output container can hold that time base (MP4 and MOV can; Matroska always counts in ms).
Audio and subtitle packets are remuxed unchanged (never re-encoded), interleaved with the video as it is
written. The display rotation is written back as the source's display matrix. The output appears atomically:
a temporary file beside it is renamed into place on success and removed on any failure or interrupt.

Folders of frames and printf patterns (`frames/%05d.png`) are clips too; see `refocus_cli.io.sequences`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refocus_cli.errors import InputError, OutputError, SettingsError, missing_or_unreadable
from refocus_cli.io.formats import VIDEO_SUFFIXES
from refocus_cli.io.sequences import SequenceWriter, as_fps, is_pattern, probe_sequence, read_sequence
from refocus_cli.io.video_types import UNSPECIFIED, EncodeSettings, Frame, VideoInfo
from refocus_cli.io.video_writer import VideoWriter, one_line

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

__all__ = [
    "EncodeSettings",
    "Frame",
    "SequenceWriter",
    "VideoInfo",
    "VideoWriter",
    "open_writer",
    "probe_video",
    "read_frames",
]

"""Output suffixes written as a video file; any other output is an image sequence or an error."""

COPIED_STREAM_TYPES = ("audio", "subtitle")
"""Streams of the source remuxed unchanged into the output (where its container can hold their codec)."""

_FASTSTART_SUFFIXES = (".mp4", ".mov", ".m4v")
_SWSCALE_MATRICES = frozenset({1, 4, 5, 6, 7, 9, 10})
"""FFmpeg `AVColorSpace` values swscale converts with (BT.709, FCC, BT.470BG, SMPTE 170M/240M, BT.2020)."""
_UNSPECIFIED = 2  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC _UNSPECIFIED


# ----------------------------------------------------------------------------------------------------- reading


def is_sequence_path(path: Path | str) -> bool:
    """Whether `path` names an image sequence (a folder or a printf pattern) rather than a video file."""
    return is_pattern(path) or Path(path).is_dir()


def probe_video(path: Path | str, *, fps: Fraction | float | str | None = None) -> VideoInfo:
    """Describe a clip: a video file, a folder of frames or a printf pattern.

    `fps` is the frame rate of a sequence (default 24); a video file's own rate is always used. A video is
    demuxed to its end only where the container does not store its frame count (Matroska, WebM).

    Raises:
        InputError: "no such file", "not a video ...", "no video stream", "no frames match ...", a sequence
            frame of another size, "corrupt video (...)".
    """
    if is_sequence_path(path):
        return probe_sequence(path, fps=fps)
    path = Path(path)
    with _open_input(path) as container:
        stream = _video_stream(path, container)
        first, packets = _first_frame(container, stream, count_packets=not stream.frames)
        if first is None:
            raise InputError(path, "has no video frames that can be decoded; nothing to refocus")
        frame_count = stream.frames or packets
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or as_fps(None)
        time_base = stream.time_base or 1 / rate
        pix_fmt = first.format.name if first is not None else stream.codec_context.pix_fmt or "yuv420p"
        duration_s = float(stream.duration * time_base) if stream.duration else float(frame_count / rate)
        return VideoInfo(
            path=path,
            width=first.width if first is not None else stream.codec_context.width,
            height=first.height if first is not None else stream.codec_context.height,
            frame_count=frame_count,
            fps=Fraction(rate),
            time_base=Fraction(time_base),
            duration_s=duration_s,
            rotation_deg=rotation_clockwise(first.rotation) if first is not None else 0,
            bit_depth=bit_depth_of(pix_fmt),
            pix_fmt=pix_fmt,
            codec=stream.codec_context.codec.canonical_name,
            is_sequence=False,
            colorspace=int(first.colorspace) if first is not None else UNSPECIFIED,
            color_range=int(first.color_range) if first is not None else 0,
            color_primaries=int(first.color_primaries) if first is not None else UNSPECIFIED,
            color_trc=int(first.color_trc) if first is not None else UNSPECIFIED,
        )


def read_frames(path: Path | str, *, start: int = 0, fps: Fraction | float | str | None = None) -> Iterator[Frame]:
    """Yield a clip's frames in presentation order from index `start` on, decoding one at a time.

    Frames before `start` are decoded (to land exactly on frame `start`) but not converted. `fps` is used by
    sequences only (default 24). Errors surface when iteration begins.

    Raises:
        InputError: as `probe_video`, or a decoding failure.
    """
    if is_sequence_path(path):
        yield from read_sequence(path, start=start, fps=fps)
        return
    path = Path(path)
    with _open_input(path) as container:
        stream = _video_stream(path, container)
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate or stream.guessed_rate or as_fps(None))
        bit_depth = 0
        for index, frame in enumerate(_decoded_frames(container, stream)):
            bit_depth = bit_depth or bit_depth_of(frame.format.name)
            if index >= start:
                yield frame_from_av(frame, index, bit_depth=bit_depth, fps=rate)


def _decoded_frames(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame]:
    """The stream's decoded frames, one at a time (a seam the tests count through)."""
    yield from container.decode(stream)


def frame_from_av(frame: VideoFrame, index: int, *, bit_depth: int, fps: Fraction) -> Frame:
    """A decoded PyAV frame as a `Frame`: [H,W,3] uint8 (`bit_depth` 8) or full-range uint16 sRGB."""
    rgb = frame.reformat(format="rgb24" if bit_depth == 8 else "rgb48le", src_color_range=frame.color_range)
    pixels: Any = rgb.to_ndarray()
    time_s = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else float(index / fps)
    return Frame(index=index, pts=frame.pts, time_s=time_s, pixels=pixels, duration=frame.duration or None)


def bit_depth_of(pix_fmt: str) -> int:
    """Bits per sample of an FFmpeg pixel format, as 8, 10, 12 or 16.

    >>> bit_depth_of("yuv420p"), bit_depth_of("yuv420p10le"), bit_depth_of("gbrp12le"), bit_depth_of("rgb48le")
    (8, 10, 12, 16)
    """
    import av

    try:
        bits = max(component.bits for component in av.VideoFormat(pix_fmt).components)
    except ValueError:
        return 8
    return 8 if bits <= 8 else 10 if bits <= 10 else 12 if bits <= 12 else 16


def rotation_clockwise(matrix_rotation: float) -> int:
    """PyAV's counter-clockwise display-matrix angle -> the clockwise 0/90/180/270 of `VideoInfo.rotation_deg`.

    >>> rotation_clockwise(-90), rotation_clockwise(90), rotation_clockwise(180), rotation_clockwise(0)
    (90, 270, 180, 0)
    """
    return round(-matrix_rotation / 90) % 4 * 90


@contextmanager
def _open_input(path: Path) -> Iterator[InputContainer]:
    """Open a video file for reading; every failure, while opening or while the body decodes, is an InputError."""
    import av

    if not path.exists():
        raise InputError(path, "no such file")
    try:
        container = av.open(str(path), mode="r")
    except OSError as exc:
        raise missing_or_unreadable(path, exc) or InputError(path, "not a video (or a format we cannot read)") from exc
    except (av.FFmpegError, ValueError) as exc:
        raise InputError(path, "not a video (or a format we cannot read)") from exc
    with container:
        try:
            yield container
        except av.FFmpegError as exc:
            raise InputError(path, f"corrupt video ({one_line(exc)})") from exc


def _video_stream(path: Path, container: InputContainer) -> VideoStream:
    """The first video stream that is not cover art; a still image or an audio-only file is an InputError."""
    import av

    if container.format.name.endswith("_pipe") or container.format.name == "image2":
        raise InputError(path, "not a video (a still image; give a folder or a pattern like frames/%05d.png)")
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic and stream.codec_context is not None:
            return stream
    raise InputError(path, "no video stream")


def _first_frame(
    container: InputContainer, stream: VideoStream, *, count_packets: bool
) -> tuple[VideoFrame | None, int]:
    """The first decoded frame (None if none decodes) and, if asked, the number of video packets to the end."""
    first: VideoFrame | None = None
    packets = 0
    for packet in container.demux(stream):
        packets += packet.size > 0
        if first is None:
            frames = stream.decode(packet)
            first = frames[0] if frames else None
        if first is not None and not count_packets:
            break
    return first, packets


# ----------------------------------------------------------------------------------------------------- writing


def open_writer(
    out: Path | str, source: VideoInfo, settings: EncodeSettings, *, overwrite: bool, resume: bool = False
) -> VideoWriter | SequenceWriter:
    """A writer for `out`: a video file by its suffix (`VIDEO_SUFFIXES`), or an image sequence: a folder
    (existing, ending in "/", or a name without suffix) or a printf pattern such as `frames/%05d.png`.

    `resume` lets a sequence writer keep the frames already there (see `SequenceWriter.done`).

    Raises:
        OutputError: unknown suffix; the output exists without `overwrite`; it is the input.
        SettingsError: `resume` for a video file; unknown encoder or pixel format.
    """
    text, path = str(out), Path(out)
    if is_pattern(path) or text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        return SequenceWriter(path, source, overwrite=overwrite, resume=resume)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(
            path,
            f"unknown video format '{path.suffix}' (use {', '.join(VIDEO_SUFFIXES)}, "
            "or a folder or a pattern like frames/%05d.png for frames)",
        )
    if resume:
        raise SettingsError("--resume needs an image-sequence output (a folder or a pattern like frames/%05d.png)")
    return VideoWriter(path, source, settings, overwrite=overwrite)
