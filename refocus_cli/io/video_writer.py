"""Writing a video file with PyAV beside the source's timing, audio, subtitles, rotation and colour tags.

The output appears atomically: a temporary file beside it is renamed into place on success and removed on any
failure or interrupt. Audio and subtitle packets are remuxed unchanged, interleaved with the video.
"""

from __future__ import annotations

import contextlib
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from refocus_cli.errors import InputError, OutputError, SettingsError
from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.encoders import encoder_formats
from refocus_cli.io.video_types import EncodeSettings, Frame, VideoInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

    from av.container import InputContainer, OutputContainer
    from av.packet import Packet
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

COPIED_STREAM_TYPES = ("audio", "subtitle")
"""Streams of the source remuxed unchanged into the output (where its container can hold their codec)."""

_FASTSTART_SUFFIXES = (".mp4", ".mov", ".m4v")
_SWSCALE_MATRICES = frozenset({1, 4, 5, 6, 7, 9, 10})
"""FFmpeg `AVColorSpace` values swscale converts with (BT.709, FCC, BT.470BG, SMPTE 170M/240M, BT.2020)."""


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


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
