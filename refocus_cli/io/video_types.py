"""What a clip is and what a frame is (VideoInfo, Frame) and how video is encoded (EncodeSettings): the
types that the video file and image-sequence readers and writers share (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

UNSPECIFIED = 2  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC _UNSPECIFIED


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
    colorspace: int = UNSPECIFIED
    color_range: int = 0
    color_primaries: int = UNSPECIFIED
    color_trc: int = UNSPECIFIED


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
