"""The video pipe as a library call: stream frames, find depth per window, steady it in time, follow the focus,
render each frame and encode it.

    frames ──► depth per window ──► blend overlaps ──► stabilise ──► focus (track / keyframes, smoothed)
           ──► render (K per frame) ──► encode (timestamps, audio and subtitles kept)

Memory holds a window of frames plus the overlap, and the few frames the focus smoothing looks ahead; never the
whole clip. `refocus_video(VideoRequest)` is what `refocus video` and `refocus bokeh-video` run.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.errors import DepthUnavailableError, InputError, SettingsError
from refocus_cli.highlights import HighlightSettings, boost_highlights
from refocus_cli.io.video import EncodeSettings, Frame, VideoInfo, open_writer, probe_video, read_frames
from refocus_cli.lens import signed_coc_px
from refocus_cli.render.layered import render_layered
from refocus_cli.render.planes import settings_for_quality
from refocus_cli.video.checks import VIDEO_DEPTH_SOURCES, check_video_settings

if TYPE_CHECKING:
    from refocus_cli.video.windows import WindowPlan


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
            "device": self.device,
            "notes": list(self.notes),
            "timings_s": {name: round(seconds, 3) for name, seconds in self.timings_s.items()},
            "focus_track": [sample.to_record() for sample in self.track],
        }


# --- frames and depth -------------------------------------------------------------------------------------------


def frame_to_linear(frame: Frame) -> torch.Tensor:
    """[H,W,3] uint8/uint16 sRGB -> [1,3,H,W] float32 linear light (by table look-up)."""
    from refocus_cli.io.images import pixels_to_linear

    return pixels_to_linear(frame.pixels, 8 if frame.pixels.dtype == np.uint8 else 16)


def linear_to_pixels(linear: torch.Tensor, bit_depth: int) -> np.ndarray:
    """[1,3,H,W] linear light -> [H,W,3] sRGB, uint8 for 8-bit clips, else uint16 over the full range."""
    from refocus_cli.io.images import encode_srgb

    return encode_srgb(linear, 8 if bit_depth <= 8 else 16)


def grey_u8(frame: Frame) -> np.ndarray:
    """[H,W] uint8 grey of a frame, for the tracker."""
    import cv2

    pixels = frame.pixels if frame.pixels.dtype == np.uint8 else (frame.pixels >> 8).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)


def disparity_from_depth_frame(frame: Frame, kind: str) -> torch.Tensor:
    """A frame of a depth clip -> [1,1,H,W] disparity in [0,1] (1 = nearest).

    `disparity`: the frame's grey value as it is (white = near). `depth`: grey is depth (white = far), turned
    into inverse depth and normalised over the frame (the stabiliser then steadies the per-frame scale).
    """
    scale = 255.0 if frame.pixels.dtype == np.uint8 else 65535.0
    grey = torch.from_numpy(frame.pixels[..., 0].astype(np.float32) / scale)[None, None]
    if kind == "disparity":
        return grey
    inverse = 1.0 / grey.clamp_min(1.0 / scale)
    low, high = float(inverse.min()), float(inverse.max())
    return (inverse - low) / max(high - low, 1e-6)


class WindowDepth:
    """Depth for a window of L frames -> [L,1,H,W] disparity, from the chosen source."""

    def __init__(self, request: VideoRequest, info: VideoInfo, device: torch.device) -> None:
        self.request, self.info, self.device = request, info, device
        self.notes: list[str] = []
        self.source = self._choose_source()

    def _choose_source(self) -> str:
        request = self.request
        source = request.depth_source
        if source not in VIDEO_DEPTH_SOURCES:
            raise SettingsError(f"--depth must be a depth clip or one of {', '.join(VIDEO_DEPTH_SOURCES[2:])}")
        if request.depth_video is not None and source in ("auto", "file"):
            return "file"
        if source == "file":
            raise SettingsError("--depth file needs a depth clip: pass it with --depth-video")
        if source == "auto":
            from refocus_cli.depth.models import locate_model

            try:
                locate_model(request.depth_model, offline=True)
                return "model"
            except DepthUnavailableError:
                return "frames"  # decided on the first frame: its own defocus, else two planes
        return source

    def _source_from_first_frame(self, first: torch.Tensor) -> str:
        """`defocus` when the first frame's edges show real blur, else `two-plane`; said in a note."""
        from refocus_cli.depth.defocus import estimate_edge_blur, shows_defocus

        if shows_defocus(estimate_edge_blur(first)):
            chosen = "defocus"
            how = "depth from the frames' own defocus"
        else:
            chosen = "two-plane"
            how = "an approximate two-plane depth (the followed subject before a receding background)"
        self.notes.append(
            f"{self.request.input_path}: no depth clip, and the learned model {self.request.depth_model} is not in a "
            f"folder or the Hugging Face cache (video never downloads it), so the depth is {how}; pass "
            "--depth-video FILE or --depth-model PATH for a real one"
        )
        return chosen

    def __call__(
        self, frames: list[Frame], depth_frames: list[Frame], points: list[tuple[float, float]]
    ) -> torch.Tensor:
        if self.source == "file":
            return torch.cat([disparity_from_depth_frame(f, self.request.depth_kind) for f in depth_frames])
        if self.source == "frames":
            self.source = self._source_from_first_frame(frame_to_linear(frames[0]))
        out = []
        for i, frame in enumerate(frames):
            image = frame_to_linear(frame)
            if self.source == "model":
                from refocus_cli.depth.learned import estimate_depth

                depth = estimate_depth(
                    image.to(self.device), self.request.depth_model, device=self.device, offline=self.request.offline
                )
                out.append(depth.disparity.cpu())
            elif self.source == "defocus":
                from refocus_cli.depth.defocus import defocus_depth

                out.append(defocus_depth(image, points[i]).disparity)
            else:
                from refocus_cli.depth.two_plane import SubjectHint, two_plane_depth

                out.append(two_plane_depth(image, SubjectHint(points[i])).disparity)
        return torch.cat(out)


# --- the pipe ---------------------------------------------------------------------------------------------------


@dataclass
class _Item:
    """One frame on its way through the pipe."""

    frame: Frame
    depth_frame: Frame | None
    guess_xy: tuple[float, float]
    lost: bool = False
    disparity: torch.Tensor | None = None
    sample: FocusSample | None = None


def refocus_video(request: VideoRequest, progress: Callable[[int, int], None] | None = None) -> VideoResult:
    """Refocus one clip (a video file or an image sequence) and write the result atomically.

    `progress(n, frame_count)` is called as frames are written (n at a time) or skipped. Raises RefocusError on
    bad input.
    """
    from refocus_cli.pipeline import resolve_device

    start = time.perf_counter()
    check_video_settings(request)
    device = resolve_device(request.device)
    info = probe_video(request.input_path, fps=request.sequence_fps)
    depth_info = _check_depth_clip(request, info)
    blur_per_frame = _blur_per_frame(request, info)
    keyed_points = _keyed_points(request, info)
    from refocus_cli.video.windows import WindowPlan

    plan = WindowPlan(request.window, request.overlap)
    _check_focus_point(request, info)
    depth_of_window = WindowDepth(request, info, device)
    writer = open_writer(request.output_path, info, request.encode, overwrite=request.overwrite, resume=request.resume)
    track: list[FocusSample] = []
    written = skipped = 0
    timings = {"render": 0.0, "encode": 0.0}
    settings = settings_for_quality(request.quality)
    focus = _FocusFollower(request, info, keyed_points, blur_per_frame)
    batch_size = request.render_batch or (plan.window if device.type == "cuda" else 1)
    batch: list[_Item] = []

    def render_batch() -> None:
        clock = time.perf_counter()
        frames = _render_frames(batch, request, settings, device, info.bit_depth)
        timings["render"] += time.perf_counter() - clock
        clock = time.perf_counter()
        for item, pixels in zip(batch, frames, strict=True):
            writer.write(Frame(item.frame.index, item.frame.pts, item.frame.time_s, pixels))
        timings["encode"] += time.perf_counter() - clock
        if progress is not None:
            progress(len(batch), info.frame_count)
        batch.clear()

    with writer:
        items = _with_depth(request, info, depth_info, plan, depth_of_window, focus)
        for item in focus.smoothed(items):
            assert item.sample is not None
            track.append(item.sample)
            done = getattr(writer, "done", None)
            if request.resume and done is not None and done(item.frame.index):
                skipped += 1
                if progress is not None:
                    progress(1, info.frame_count)
                continue
            batch.append(item)
            written += 1
            if len(batch) == batch_size:
                render_batch()
        if batch:
            render_batch()
    return VideoResult(
        input_path=request.input_path,
        output_path=request.output_path,
        info=info,
        frames_written=written,
        frames_skipped=skipped,
        depth_source=("file:" + str(request.depth_video))
        if depth_of_window.source == "file"
        else depth_of_window.source,
        focus_rule=focus.rule,
        track=tuple(track),
        timings_s=_with_rest(timings, time.perf_counter() - start),
        device=str(device),
        notes=tuple(depth_of_window.notes),
    )


def _render_frames(
    items: list[_Item], request: VideoRequest, settings: Any, device: torch.device, bit_depth: int
) -> list[np.ndarray]:
    """Frames refocused together (one batch on the device): CoC from each frame's depth and focus, restore (if
    asked), highlights, render; [H,W,3] sRGB pixels each."""
    cocs, images = [], []
    for item in items:
        assert item.sample is not None and item.disparity is not None
        coc = signed_coc_px(item.disparity, item.sample.disparity, item.sample.blur_k_px)  # [1,1,H,W]
        sharp = _restored(frame_to_linear(item.frame), item.disparity, request.restore)  # [1,3,H,W]
        cocs.append(coc)
        images.append(boost_highlights(sharp, coc, request.highlights))
    with torch.no_grad():
        if request.engine == "learned":
            from refocus_cli.learned.engine import learned_render

            samples = [item.sample for item in items if item.sample is not None]
            disparity = torch.cat([item.disparity for item in items if item.disparity is not None])
            focus = torch.tensor([sample.disparity for sample in samples])
            blur = torch.tensor([sample.blur_k_px for sample in samples])
            rendered = learned_render(torch.cat(images), disparity, focus, blur, model=request.model, device=device)
        else:
            rendered = render_layered(
                torch.cat(images).to(device), torch.cat(cocs).to(device), request.aperture, settings
            ).cpu()  # [N,3,H,W]
    return [linear_to_pixels(rendered[i : i + 1], bit_depth) for i in range(len(items))]


def _with_rest(timings: dict[str, float], total: float) -> dict[str, float]:
    """Stage timings with the total and what the render and encoder leave: decoding, depth, tracking."""
    return {"decode_depth_focus": total - sum(timings.values()), **timings, "total": total}


def _restored(linear: torch.Tensor, disparity: torch.Tensor, mode: str) -> torch.Tensor:
    """The frame to render from: as read (`off`), or its all-in-focus estimate (`on`; `auto` only when the
    frame's fitted blur is worth undoing)."""
    if mode == "off":
        return linear
    if mode not in ("auto", "on"):
        raise SettingsError(f"--restore must be auto, on or off, got {mode!r}")
    from refocus_cli.restore.pipeline import restore_all_in_focus

    return restore_all_in_focus(linear, disparity, mode="always" if mode == "on" else "auto").all_in_focus


def _check_depth_clip(request: VideoRequest, info: VideoInfo) -> VideoInfo | None:
    """The depth clip's facts, after checking it matches the clip frame for frame."""
    if request.depth_video is None:
        return None
    depth = probe_video(request.depth_video, fps=float(info.fps))
    if depth.frame_count != info.frame_count or (depth.width, depth.height) != (info.width, info.height):
        raise InputError(
            request.depth_video,
            f"depth clip has {depth.frame_count} frames of {depth.width}x{depth.height}, but "
            f"{request.input_path} has {info.frame_count} frames of {info.width}x{info.height}",
        )
    return depth


def _check_focus_point(request: VideoRequest, info: VideoInfo) -> None:
    if request.focus_point_xy is not None:
        x, y = request.focus_point_xy
        if not (0 <= x < info.width and 0 <= y < info.height):
            raise SettingsError(f"--focus {x:g},{y:g}: outside the {info.width}x{info.height} frame")
    if request.focus_disparity is not None and not 0.0 <= request.focus_disparity <= 1.0:
        raise SettingsError(f"--focus-depth must be a disparity between 0 and 1, got {request.focus_disparity}")


def _blur_per_frame(request: VideoRequest, info: VideoInfo) -> np.ndarray:
    """K for every frame [T]: keyframes interpolated, else the one K."""
    from refocus_cli.video.keyframes import interpolate, keyframe_frames, parse_blur_keyframe

    if request.blur_k_px < 0:
        raise SettingsError(f"--blur must be >= 0, got {request.blur_k_px}")
    if not request.blur_keys:
        return np.full(info.frame_count, request.blur_k_px)
    keys = [parse_blur_keyframe(text) for text in request.blur_keys]
    frames = keyframe_frames(keys, float(info.fps), info.frame_count, option="--blur-at")
    return np.asarray(interpolate(frames, info.frame_count))[:, 0]


def _keyed_points(request: VideoRequest, info: VideoInfo) -> np.ndarray | None:
    """Focus points for every frame [T,2] from --focus-at keyframes, or None."""
    from refocus_cli.video.keyframes import interpolate, keyframe_frames, parse_focus_keyframe

    if not request.focus_keys:
        return None
    keys = [parse_focus_keyframe(text) for text in request.focus_keys]
    for key in keys:
        x, y = key.value
        if not (0 <= x < info.width and 0 <= y < info.height):
            raise SettingsError(f"--focus-at {x:g},{y:g}: outside the {info.width}x{info.height} frame")
    frames = keyframe_frames(keys, float(info.fps), info.frame_count, option="--focus-at")
    return np.asarray(interpolate(frames, info.frame_count))


def _with_depth(
    request: VideoRequest,
    info: VideoInfo,
    depth_info: VideoInfo | None,
    plan: WindowPlan,
    depth_of_window: WindowDepth,
    focus: _FocusFollower,
) -> Iterator[_Item]:
    """Frames in order with their depth: estimated per window, blended over the overlaps, stabilised."""
    from refocus_cli.video.stabilise import DepthStabiliser
    from refocus_cli.video.windows import OverlapBlender, window_starts

    frames = read_frames(request.input_path, fps=request.sequence_fps)
    depth_frames = read_frames(depth_info.path, fps=float(info.fps)) if depth_info is not None else None
    blender = OverlapBlender(plan, info.frame_count)
    stabiliser = DepthStabiliser() if request.stabilise else None
    pending: dict[int, _Item] = {}
    read_until = 0

    def emit(ready: list[tuple[int, torch.Tensor]]) -> Iterator[_Item]:
        for index, disparity in ready:
            item = pending.pop(index)
            item.disparity = stabiliser.push(disparity) if stabiliser is not None else disparity
            yield item

    for start in window_starts(info.frame_count, plan):
        end = min(info.frame_count, start + plan.window)
        while read_until < end:
            frame = next(frames)
            depth_frame = next(depth_frames) if depth_frames is not None else None
            point, lost = focus.guess(frame)
            pending[read_until] = _Item(frame, depth_frame, point, lost)
            read_until += 1
        window = [pending[i] for i in range(start, end)]
        values = depth_of_window(
            [item.frame for item in window],
            [item.depth_frame for item in window if item.depth_frame is not None],
            [item.guess_xy for item in window],
        )
        blender.push(start, values)
        yield from emit(blender.pop_ready())
    yield from emit(blender.flush())


class _FocusFollower:
    """The focus of every frame: where (keyframes, a followed point, or none), the disparity there, smoothed in
    time with a look-ahead of a few frames, and K."""

    def __init__(
        self, request: VideoRequest, info: VideoInfo, keyed_points: np.ndarray | None, blur: np.ndarray
    ) -> None:
        self.request, self.info, self.keyed_points, self.blur = request, info, keyed_points, blur
        self.tracker: Any = None
        self.rule = (
            "keyframes"
            if keyed_points is not None
            else "tracked point"
            if request.focus_point_xy is not None
            else "focus-depth"
            if request.focus_disparity is not None
            else "auto (followed)"
        )
        self.last_point: tuple[float, float] = (info.width / 2, info.height / 2)
        self.auto_point: tuple[float, float] = self.last_point
        fps = float(info.fps)
        self.reach = max(1, round(2 * request.focus_smoothing_s * fps))

    def guess(self, frame: Frame) -> tuple[tuple[float, float], bool]:
        """The focus point of a frame as it is read (the tracker runs in read order) and whether the followed
        subject is hidden there."""
        if self.keyed_points is not None:
            x, y = self.keyed_points[frame.index]
            return (float(x), float(y)), False
        if self.request.focus_point_xy is None:
            return self.last_point, False
        from refocus_cli.video.track import SubjectTracker

        grey = grey_u8(frame)
        if self.tracker is None:
            self.tracker = SubjectTracker(grey, self.request.focus_point_xy)
            point = self.tracker.first
        else:
            point = self.tracker.update(grey)
        self.last_point = (float(point.x), float(point.y))
        return self.last_point, bool(point.lost)

    def raw_disparity(self, item: _Item, previous: float | None) -> float:
        if self.request.focus_disparity is not None:
            return self.request.focus_disparity
        assert item.disparity is not None
        h, w = item.disparity.shape[-2:]
        if self.tracker is None and self.keyed_points is None and self.request.focus_point_xy is None:
            if item.frame.index == 0:
                from refocus_cli.autofocus import focus_from_depth

                self.auto_point = focus_from_depth(item.disparity).point_xy
            point = self.auto_point
        else:
            point = item.guess_xy
        if item.lost and previous is not None:
            return previous  # the subject is hidden: hold its focus
        from refocus_cli.pipeline import FocusSpec, focus_window

        inside = (float(np.clip(point[0], 0, w - 1)), float(np.clip(point[1], 0, h - 1)))  # a prediction may stray
        rows, cols, _ = focus_window(FocusSpec(point_xy=inside), self.request.input_path, (int(h), int(w)))
        return float(item.disparity[0, 0, rows, cols].median())

    def smoothed(self, items: Iterator[_Item]) -> Iterator[_Item]:
        """Items with their FocusSample, the focus disparity smoothed over +-reach frames (a zero-phase filter
        run on a sliding stretch, so each frame waits for `reach` later frames)."""
        emitted: deque[float] = deque(maxlen=self.reach)
        waiting: deque[tuple[_Item, float, bool]] = deque()
        previous: float | None = None
        for item in items:
            previous = self.raw_disparity(item, previous)
            waiting.append((item, previous, item.lost))
            if len(waiting) > self.reach:
                yield self._finish(emitted, waiting)
        while waiting:
            yield self._finish(emitted, waiting)

    def _finish(self, emitted: deque[float], waiting: deque[tuple[_Item, float, bool]]) -> _Item:
        """The oldest waiting item, its disparity smoothed over the emitted ones before and the waiting ones after."""
        from refocus_cli.video.keyframes import smooth_track

        item, raw, lost = waiting[0]
        values = np.asarray([*emitted, *(w[1] for w in waiting)], dtype=np.float64)
        smooth = raw
        if self.request.focus_smoothing_s > 0 and len(values) > 1:
            series = smooth_track(values, float(self.info.fps), time_constant_s=self.request.focus_smoothing_s)
            smooth = float(series[len(emitted)])
        waiting.popleft()
        emitted.append(raw)
        point = None if self.request.focus_disparity is not None else item.guess_xy
        index = item.frame.index
        item.sample = FocusSample(index, item.frame.time_s, point, lost, raw, smooth, float(self.blur[index]))
        return item
