"""A video job's request and result: what to refocus and how (`VideoRequest`), the focus of each frame
(`FocusSample`) and what was done (`VideoResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refocus_cli.aperture import ApertureShape
from refocus_cli.autofocus import AutoFocus
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.highlights import HighlightSettings
from refocus_cli.io.video_types import EncodeSettings, VideoInfo


@dataclass(frozen=True)
class VideoRequest:
    """One clip to refocus. Focus: keyframes (`focus_keys`), else a point followed through the clip, else a
    fixed disparity, else auto-focus on the first frame's depth (then followed). Blur: keyframes, else K."""

    input_path: Path
    output_path: Path
    depth_video: Path | None = None
    depth_kind: str = "disparity"
    depth_source: str = "auto"
    depth_model: str = DEFAULT_DEPTH_MODEL
    offline: bool = False
    focus_point_xy: tuple[float, float] | None = None
    focus_keys: tuple[str, ...] = ()
    focus_disparity: float | None = None
    blur_k_px: float = 8.0
    blur_keys: tuple[str, ...] = ()
    window: int = 16
    overlap: int = 4
    stabilise: bool = True
    restore: str = "off"
    engine: str = "physics"
    model: str | None = None
    focus_smoothing_s: float = 0.25
    aperture: ApertureShape = field(default_factory=ApertureShape)
    highlights: HighlightSettings = field(default_factory=HighlightSettings)
    quality: str = "fast"
    device: str = "auto"
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    sequence_fps: float | None = None
    render_batch: int = 0
    """Frames rendered together: 0 = a window at a time on CUDA, one at a time on the CPU (memory)."""
    overwrite: bool = False
    resume: bool = False


@dataclass(frozen=True)
class FocusSample:
    """Where the focus was on one frame: the point followed (None for a fixed disparity), the disparity there
    before and after smoothing in time, and the blur."""

    index: int
    time_s: float
    point_xy: tuple[float, float] | None
    lost: bool
    raw_disparity: float
    disparity: float
    blur_k_px: float

    def to_record(self) -> dict[str, Any]:
        return {
            "frame": self.index,
            "time_s": round(self.time_s, 4),
            "point": None if self.point_xy is None else [round(v, 2) for v in self.point_xy],
            "lost": self.lost,
            "raw_disparity": round(self.raw_disparity, 5),
            "focus_disparity": round(self.disparity, 5),
            "blur": round(self.blur_k_px, 4),
        }


@dataclass(frozen=True)
class VideoResult:
    """What was done to one clip; `to_record()` is its `--json` line (with the focus track)."""

    input_path: Path
    output_path: Path
    info: VideoInfo
    frames_written: int
    frames_skipped: int
    depth_source: str
    focus_rule: str
    track: tuple[FocusSample, ...]
    timings_s: dict[str, float]
    device: str
    notes: tuple[str, ...] = ()
    auto_focus: AutoFocus | None = None
    """The subject auto-focus chose on the first frame (then followed), when the request named no focus."""

    def to_record(self) -> dict[str, Any]:
        return {
            "input": str(self.input_path),
            "output": str(self.output_path),
            "width": self.info.width,
            "height": self.info.height,
            "frames": self.info.frame_count,
            "frames_written": self.frames_written,
            "frames_skipped": self.frames_skipped,
            "fps": float(self.info.fps),
            "duration_s": round(self.info.duration_s, 4),
            "depth_source": self.depth_source,
            "focus_rule": self.focus_rule,
            "auto_focus": None
            if self.auto_focus is None
            else {"point": [round(v, 2) for v in self.auto_focus.point_xy], "rule": self.auto_focus.rule},
            "device": self.device,
            "notes": list(self.notes),
            "timings_s": {name: round(seconds, 3) for name, seconds in self.timings_s.items()},
            "focus_track": [sample.to_record() for sample in self.track],
        }
