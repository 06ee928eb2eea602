"""The video pipe as a library call: stream frames, find depth per window, steady it in time, follow the focus,
render each frame and encode it.

    frames ──► depth per window ──► blend overlaps ──► stabilise ──► focus (track / keyframes, smoothed)
           ──► render (K per frame) ──► encode (timestamps, audio and subtitles kept)

The clip and its depth clip are decoded a few frames ahead, and the output encoded a few frames behind, on
threads of their own (`io.frame_threads`), while the render works. Memory holds a window of frames plus the
overlap, the few frames the focus smoothing looks ahead and those few queued frames; never the whole clip.
`refocus_video(VideoRequest)` is what `refocus video` and `refocus bokeh-video` run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

import numpy as np
import torch

from refocus_cli.devices import resolve_device
from refocus_cli.errors import InputError, SettingsError
from refocus_cli.io.frame_threads import ReadAhead, WriteBehind
from refocus_cli.io.video import Frame, VideoInfo, open_writer, probe_video, read_frames
from refocus_cli.video.checks import check_video_settings

if TYPE_CHECKING:
    from refocus_cli.video.windows import WindowPlan


from refocus_cli.video.follow import FocusFollower
from refocus_cli.video.item import FrameItem
from refocus_cli.video.request import FocusSample, VideoRequest, VideoResult
from refocus_cli.video.window_work import WindowDepth, WindowRestore, render_frames

__all__ = ["FocusSample", "VideoRequest", "VideoResult", "refocus_video"]


# --- the pipe ---------------------------------------------------------------------------------------------------


def refocus_video(request: VideoRequest, progress: Callable[[int, int], None] | None = None) -> VideoResult:
    """Refocus one clip (a video file or an image sequence) and write the result atomically.

    `progress(n, frame_count)` is called as frames are written (n at a time) or skipped. Raises RefocusError on
    bad input.
    """
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
    focus = FocusFollower(request, info, keyed_points, blur_per_frame, depth_of_window.first_frame_focus)
    batch_size = request.render_batch or (plan.window if device.type == "cuda" else 1)
    batch: list[FrameItem] = []
    restore = WindowRestore(request.restore, plan.stride)

    def render_batch() -> None:
        clock = time.perf_counter()
        frames = render_frames(batch, request, device, info.bit_depth, restore)
        timings["render"] += time.perf_counter() - clock
        clock = time.perf_counter()
        for item, pixels in zip(batch, frames, strict=True):  # encoded behind, on the writer's thread
            behind.write(Frame(item.frame.index, item.frame.pts, item.frame.time_s, pixels))
        timings["encode"] += time.perf_counter() - clock  # the time the pipe waited for the encoder
        if progress is not None:
            progress(len(batch), info.frame_count)
        batch.clear()

    with writer, ExitStack() as threads:  # leaving: the writer thread finishes (or drops), the readers stop
        frames = threads.enter_context(ReadAhead(read_frames(request.input_path, fps=request.sequence_fps)))
        depth_frames = (
            threads.enter_context(ReadAhead(read_frames(depth_info.path, fps=float(info.fps))))
            if depth_info is not None
            else None
        )
        behind: WriteBehind[Frame] = threads.enter_context(WriteBehind(writer.write))
        items = _with_depth(frames, depth_frames, info, plan, depth_of_window, focus, request.stabilise)
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
        clock = time.perf_counter()
        behind.finish()
        timings["encode"] += time.perf_counter() - clock
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
        notes=tuple(depth_of_window.notes + _auto_focus_notes(request, focus)),
        auto_focus=focus.auto_choice,
    )


def _auto_focus_notes(request: VideoRequest, focus: FocusFollower) -> list[str]:
    """The note that says which subject auto-focus chose, when it chose one."""
    if focus.auto_choice is None:
        return []
    x, y = focus.auto_choice.point_xy
    return [
        f"{request.input_path}: no --focus, so auto-focus chose {x:.0f},{y:.0f} on the first frame "
        f"({focus.auto_choice.rule.removeprefix('auto: ')}) and followed it through the clip; "
        "--focus X,Y picks another subject"
    ]


def _with_rest(timings: dict[str, float], total: float) -> dict[str, float]:
    """Stage timings with the total and what the render and encoder leave: decoding, depth, tracking."""
    return {"decode_depth_focus": total - sum(timings.values()), **timings, "total": total}


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


def _blur_per_frame(request: VideoRequest, info: VideoInfo) -> np.ndarray:
    """K for every frame [T]: keyframes interpolated, else the one K."""
    from refocus_cli.video.keyframes import interpolate, keyframe_frames, parse_blur_keyframe

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
    frames: Iterator[Frame],
    depth_frames: Iterator[Frame] | None,
    info: VideoInfo,
    plan: WindowPlan,
    depth_of_window: WindowDepth,
    focus: FocusFollower,
    stabilise: bool,
) -> Iterator[FrameItem]:
    """Frames in order (from `frames`, with the depth clip's `depth_frames` beside them) with their depth:
    estimated per window, blended over the overlaps, stabilised by one stabiliser for the whole clip, so that
    scale and shift hold across window boundaries too (anchored at the followed subject for depth built
    around it: `WindowDepth.anchor`)."""
    from refocus_cli.video.stabilise import DepthStabiliser
    from refocus_cli.video.windows import OverlapBlender, window_starts

    blender = OverlapBlender(plan, info.frame_count)
    stabilisers: list[DepthStabiliser] = []  # one, made once the first window has decided the depth source
    pending: dict[int, FrameItem] = {}
    read_until = 0

    def emit(ready: list[tuple[int, torch.Tensor]]) -> Iterator[FrameItem]:
        for index, disparity in ready:
            item = pending.pop(index)
            if stabilise and not stabilisers:
                stabilisers.append(DepthStabiliser(anchor=depth_of_window.anchor))
            item.disparity = stabilisers[0].push(disparity) if stabilise else disparity
            yield item

    for start in window_starts(info.frame_count, plan):
        end = min(info.frame_count, start + plan.window)
        while read_until < end:
            frame = next(frames)
            depth_frame = next(depth_frames) if depth_frames is not None else None
            point, lost = focus.guess(frame, depth_frame)
            pending[read_until] = FrameItem(frame, depth_frame, point, lost)
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
