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

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from refocus_cli.errors import InputError, OutputError, SettingsError, missing_or_unreadable
from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.encoders import encoder_formats
from refocus_cli.io.sequences import SequenceWriter, as_fps, is_pattern, probe_sequence, read_sequence

if TYPE_CHECKING:
    import numpy as np
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet
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

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
"""Output suffixes written as a video file; any other output is an image sequence or an error."""

COPIED_STREAM_TYPES = ("audio", "subtitle")
"""Streams of the source remuxed unchanged into the output (where its container can hold their codec)."""

_FASTSTART_SUFFIXES = (".mp4", ".mov", ".m4v")
_SWSCALE_MATRICES = frozenset({1, 4, 5, 6, 7, 9, 10})
"""FFmpeg `AVColorSpace` values swscale converts with (BT.709, FCC, BT.470BG, SMPTE 170M/240M, BT.2020)."""
_UNSPECIFIED = 2  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC _UNSPECIFIED


@dataclass(frozen=True)
class VideoInfo:
    """What a clip is: size, timing, depth and codec. A sequence (folder or pattern) is a clip too.

    Attributes:
        path: the clip (file, folder or pattern) as given.
        width, height: stored frame size in pixels, before any rotation.
        frame_count: exact number of frames (packets counted where the container does not say; files).
        fps: average frame rate, frames per second.
        time_base: the video stream's time base, seconds per pts unit (sequences: 1 / fps).
        duration_s: the video stream's duration in seconds (frame_count / fps where the container does not say).
        rotation_deg: clockwise turn, 0/90/180/270, that displays the stored frame upright (the old `rotate`
            tag's convention: a phone's portrait clip says 90); `np.rot90(pixels, k=-rotation_deg // 90)`.
            Read from the display matrix; flips in it are not represented. 0 for sequences.
        bit_depth: 8, 10, 12 or 16 bits per sample, from the pixel format (sequences: 8 or 16).
        pix_fmt: FFmpeg pixel format, e.g. "yuv420p", "yuv420p10le" (sequences: "rgb24" or "rgb48").
        codec: decoder name, e.g. "h264" (sequences: "png", "tiff", "mjpeg", ...).
        is_sequence: a folder or pattern of image files rather than a video file.
        colorspace, color_range, color_primaries, color_trc: FFmpeg colour tags of the first frame
            (`AVColorSpace`, `AVColorRange`, ...; 2, 0, 2, 2 = unspecified), written back by `VideoWriter`.
    """

    path: Path
    width: int
    height: int
    frame_count: int
    fps: Fraction
    time_base: Fraction
    duration_s: float
    rotation_deg: int
    bit_depth: int
    pix_fmt: str
    codec: str
    is_sequence: bool
    colorspace: int = _UNSPECIFIED
    color_range: int = 0
    color_primaries: int = _UNSPECIFIED
    color_trc: int = _UNSPECIFIED


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based position in the clip (presentation order).
        pts: presentation timestamp in the clip's `time_base` units; None for sequences.
        time_s: pts * time_base in seconds (index / fps for sequences).
        pixels: [H,W,3] sRGB as stored (rotation not applied): uint8 when the clip's bit depth is 8, else
            uint16 scaled to the full 0..65535 range.
        duration: how long the frame shows, in time_base units, where the source says; None otherwise.
    """

    index: int
    pts: int | None
    time_s: float
    pixels: np.ndarray
    duration: int | None = None


@dataclass(frozen=True)
class EncodeSettings:
    """How `VideoWriter` encodes the video stream.

    Attributes:
        codec: FFmpeg encoder name ("libx264", "libx265", "libvpx-vp9", "libsvtav1", ...).
        crf: constant rate factor (lower is better; x264/x265: 0-51), None for the encoder's default.
        preset: speed preset ("medium", "slow", ...), None for the encoder's default. Encoders without a
            preset or crf option ignore it.
        pix_fmt: output pixel format; None keeps the source's YUV format where the encoder takes it, else
            10-bit (yuv420p10le) for sources deeper than 8 bits where the encoder allows, else yuv420p.
    """

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None


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
            colorspace=int(first.colorspace) if first is not None else _UNSPECIFIED,
            color_range=int(first.color_range) if first is not None else 0,
            color_primaries=int(first.color_primaries) if first is not None else _UNSPECIFIED,
            color_trc=int(first.color_trc) if first is not None else _UNSPECIFIED,
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


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


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


def output_pix_fmt(settings: EncodeSettings, source: VideoInfo) -> str:
    """The pixel format to encode: `settings.pix_fmt`, else the source's YUV format if the encoder takes it,
    else yuv420p10le for deep sources where the encoder allows, else yuv420p.

    Raises:
        SettingsError: unknown encoder, not a video encoder, or a pixel format the encoder cannot take.
    """
    formats = encoder_formats(settings.codec, settings.pix_fmt)
    if settings.pix_fmt:
        return settings.pix_fmt
    if source.pix_fmt.startswith("yuv") and source.pix_fmt in formats:
        return source.pix_fmt
    deep = ["yuv420p10le"] if source.bit_depth > 8 else []
    return next((name for name in [*deep, "yuv420p"] if name in formats), formats[0] if formats else "yuv420p")


def even_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """(width, height) cut down to what a chroma-subsampled format holds (4:2:0 even both, 4:2:2 even width).

    >>> even_size(65, 49, "yuv420p"), even_size(65, 49, "yuv422p10le"), even_size(65, 49, "yuv444p")
    ((64, 48), (64, 49), (65, 49))
    """
    import av

    fmt = av.VideoFormat(pix_fmt)
    sub_w, sub_h = fmt.chroma_width(64) < 64, fmt.chroma_height(64) < 64
    return width - (width % 2 if sub_w else 0), height - (height % 2 if sub_h else 0)


class VideoWriter:
    """Encodes frames to a video file beside the source's timing, audio, subtitles and rotation; use it as a
    context manager.

    The file is written under a hidden temporary name in the output's folder (which must exist), created
    now. Streams are set up on the first `write`, from that frame's size (cut to even sizes for 4:2:0). On a clean exit
    the encoder is flushed, the source's remaining audio and subtitle packets are remuxed, and the temporary
    file is renamed onto `out_path`; on an exception (KeyboardInterrupt included) it is removed and nothing
    exists under the final name. Streams the output container cannot hold (e.g. SubRip in MP4) are skipped
    and named in `skipped_streams`. Frames are expected in presentation order, as `read_frames` yields them.

    Raises:
        OutputError: the output exists without `overwrite`, is the input, its folder is missing, or the
            encoder or muxer fails.
        SettingsError: unknown encoder or pixel format, or an encoder the container cannot hold.
    """

    def __init__(
        self, out_path: Path, source: VideoInfo, settings: EncodeSettings, *, overwrite: bool, copy_streams: bool = True
    ) -> None:
        import av

        self.out_path, self.source, self.settings = Path(out_path), source, settings
        self.pix_fmt = output_pix_fmt(settings, source)
        self.skipped_streams: list[str] = []
        if not source.is_sequence and _same_file(self.out_path, source.path):
            raise OutputError(self.out_path, "is the input clip; choose another output name")
        self._copy_streams = copy_streams and not source.is_sequence
        self._video: VideoStream | None = None
        self._frame_shape: tuple[int, int] = (0, 0)  # [H,W] of the first frame written
        self._copier: _StreamCopier | None = None
        self._closed = False
        self._stack = ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_output(self.out_path, overwrite=overwrite))
            options = {"movflags": "+faststart"} if self.out_path.suffix.lower() in _FASTSTART_SUFFIXES else {}
            self._container: OutputContainer = av.open(str(tmp), mode="w", container_options=options)
            if av.Codec(settings.codec, "w").canonical_name not in self._container.supported_codecs:
                raise SettingsError(f"{settings.codec} cannot go in a {self.out_path.suffix} file")
        except (av.FFmpegError, ValueError) as exc:
            self._stack.__exit__(*sys.exc_info())
            raise OutputError(self.out_path, f"cannot write this container ({one_line(exc)})") from exc
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise

    def write(self, frame: Frame) -> None:
        """Encode one frame ([H,W,3] uint8 or uint16 sRGB) at its pts in the source's time base (from its
        index and the frame rate where pts is None), and remux source packets up to its time.

        Raises:
            OutputError: the encoder or muxer fails.
            ValueError: the frame's size differs from the first frame's; the writer is closed.
        """
        import av

        if self._closed:
            raise ValueError("the writer is closed")
        try:
            video = self._video or self._start(frame.pixels.shape[1], frame.pixels.shape[0])
            self._container.mux(video.encode(self._av_frame(video, frame)))
            if self._copier is not None:
                self._copier.mux_until(self._container, frame.time_s)
        except av.FFmpegError as exc:
            raise OutputError(self.out_path, f"cannot encode ({one_line(exc)})") from exc

    def close(self) -> None:
        """Flush the encoder, remux the rest of the source's streams, and rename the file into place.

        Raises:
            OutputError: no frame was written; flushing or renaming fails (the temporary file is removed).
        """
        import av

        if self._closed:
            return
        try:
            if self._video is None:
                raise OutputError(self.out_path, "no frames were written")
            self._container.mux(self._video.encode(None))
            if self._copier is not None:
                self._copier.mux_until(self._container, None)
                self._copier.close()
            self._closed = True
            self._container.close()
        except av.FFmpegError as exc:
            self.abort(*sys.exc_info())
            raise OutputError(self.out_path, f"cannot finish the video ({one_line(exc)})") from exc
        except BaseException:
            self.abort(*sys.exc_info())
            raise
        self._stack.close()  # the rename

    def abort(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Give up: close everything and remove the temporary file; nothing appears under `out_path`."""
        self._closed = True
        if self._copier is not None:
            self._copier.close()
        with contextlib.suppress(Exception):
            self._container.close()
        self._stack.__exit__(exc_type or OutputError, exc or OutputError(self.out_path, "aborted"), tb)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self.abort(exc_type, exc, tb)

    def _start(self, width: int, height: int) -> VideoStream:
        """Add the video stream (size, pixel format, time base, colour tags, rotation) and the copied streams."""
        source, settings = self.source, self.settings
        self._frame_shape = (height, width)
        video: Any = self._container.add_stream(settings.codec, rate=source.fps)  # a VideoStream
        video.width, video.height = even_size(width, height, self.pix_fmt)
        video.pix_fmt = self.pix_fmt
        video.time_base = source.time_base
        video.codec_context.time_base = source.time_base
        video.options = _encoder_options(settings)
        context: Any = video.codec_context
        context.colorspace, context.color_range = source.colorspace, source.color_range
        context.color_primaries, context.color_trc = source.color_primaries, source.color_trc
        if source.rotation_deg:
            video.set_display_rotation(-source.rotation_deg)  # PyAV takes counter-clockwise degrees
        if self._copy_streams:
            self._copier = _StreamCopier(source.path, self._container)
            self.skipped_streams = self._copier.skipped
        self._video = video
        return video

    def _av_frame(self, video: VideoStream, frame: Frame) -> VideoFrame:
        """`frame` as a PyAV frame in the output's pixel format, colour matrix, size and timing."""
        import av
        import numpy as np

        pixels = frame.pixels
        if pixels.shape[:2] != self._frame_shape:
            raise ValueError(f"frame {frame.index} is {pixels.shape[1]}x{pixels.shape[0]}, not the first frame's size")
        rgb = np.ascontiguousarray(pixels[: video.height, : video.width, :3])
        fmt = "rgb24" if rgb.dtype == np.uint8 else "rgb48le"
        source = self.source
        out = av.VideoFrame.from_ndarray(rgb, format=fmt).reformat(
            format=self.pix_fmt,
            dst_colorspace=source.colorspace if source.colorspace in _SWSCALE_MATRICES else None,
            dst_color_range=source.color_range or None,
        )
        ticks_per_frame = 1 / (source.fps * source.time_base)
        out.pts = frame.pts if frame.pts is not None else round(frame.index * ticks_per_frame)
        out.time_base = source.time_base
        out.duration = frame.duration or max(1, round(ticks_per_frame))
        return out


def _encoder_options(settings: EncodeSettings) -> dict[str, str]:
    """Encoder options from the settings (quiet x265 logging too).

    >>> _encoder_options(EncodeSettings(codec="libx265", crf=20, preset=None))
    {'crf': '20', 'x265-params': 'log-level=error'}
    """
    options = {}
    if settings.crf is not None:
        options["crf"] = str(settings.crf)
    if settings.preset:
        options["preset"] = settings.preset
    if settings.codec == "libx265":
        options["x265-params"] = "log-level=error"
    return options


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (resolved; an absent file equals nothing that exists)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


class _StreamCopier:
    """Remuxes a source's audio and subtitle packets, unchanged, into an output in time order with the video.

    The source is demuxed a second time, one packet ahead; memory stays bounded by the muxer's interleaving
    queue. Streams whose codec the output container cannot hold are listed in `skipped`.
    """

    def __init__(self, source: Path, output: OutputContainer) -> None:
        import av

        try:
            self._input: InputContainer = av.open(str(source), mode="r")
        except (OSError, av.FFmpegError, ValueError) as exc:
            raise InputError(source, f"cannot reopen to copy its audio ({one_line(exc)})") from exc
        self._streams: dict[int, Any] = {}
        self.skipped: list[str] = []
        for stream in self._input.streams:
            if stream.type not in COPIED_STREAM_TYPES or stream.codec_context is None:
                continue
            codec = stream.codec_context.codec.canonical_name
            if codec not in output.supported_codecs:
                self.skipped.append(f"#{stream.index} {stream.type} ({codec})")
                continue
            self._streams[stream.index] = output.add_stream_from_template(stream)
        chosen = [self._input.streams[index] for index in self._streams]
        self._packets: Iterator[Packet] = self._input.demux(chosen) if chosen else iter(())
        self._pending: Packet | None = None

    def mux_until(self, output: OutputContainer, time_s: float | None) -> None:
        """Mux the source packets up to `time_s` seconds (all remaining ones for None)."""
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:  # the demuxer's empty flush packets
                continue
            if time_s is not None and packet.time_base is not None and float(stamp * packet.time_base) > time_s:
                self._pending = packet
                return
            packet.stream = self._streams[packet.stream.index]
            output.mux(packet)

    def close(self) -> None:
        """Close the second handle on the source."""
        with contextlib.suppress(Exception):
            self._input.close()
