"""Following the focus through a clip: keyframes, a tracked point or auto-focus on the first frame, the
disparity at that point, smoothed in time with a short look-ahead.

Without a focus from the user the subject is chosen once, by auto-focus on the first frame's depth, and then
followed by the tracker exactly as a `--focus X,Y` point is: the focus is read where the subject is on each
frame, never at a point fixed in the frame."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from refocus_cli.io.video import Frame, VideoInfo
from refocus_cli.video.item import FrameItem
from refocus_cli.video.request import FocusSample, VideoRequest
from refocus_cli.video.window_work import grey_u8

if TYPE_CHECKING:
    from refocus_cli.autofocus import AutoFocus


class FocusFollower:
    """The focus of every frame: where (keyframes, a followed point, or none), the disparity there, smoothed in
    time with a look-ahead of a few frames, and K.

    `auto_focus(first frame, its depth-clip frame)` picks the subject when the request names no focus; the
    choice is kept in `auto_choice`."""

    def __init__(
        self,
        request: VideoRequest,
        info: VideoInfo,
        keyed_points: np.ndarray | None,
        blur: np.ndarray,
        auto_focus: Callable[[Frame, Frame | None], AutoFocus] | None = None,
    ) -> None:
        self.request, self.info, self.keyed_points, self.blur = request, info, keyed_points, blur
        self.auto_focus = auto_focus
        self.auto_choice: AutoFocus | None = None
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
        fps = float(info.fps)
        self.reach = max(1, round(2 * request.focus_smoothing_s * fps))

    def guess(self, frame: Frame, depth_frame: Frame | None = None) -> tuple[tuple[float, float], bool]:
        """The focus point of a frame as it is read (the tracker runs in read order) and whether the followed
        subject is hidden there; `depth_frame` is the depth clip's frame (auto-focus reads the first)."""
        if self.keyed_points is not None:
            x, y = self.keyed_points[frame.index]
            return (float(x), float(y)), False
        if self.request.focus_disparity is not None:
            return self.last_point, False
        from refocus_cli.video.track import SubjectTracker

        grey = grey_u8(frame)
        if self.tracker is None:
            start = self.request.focus_point_xy
            if start is None:  # auto-focus once, on the first frame; then the subject is followed
                assert self.auto_focus is not None, "a request without a focus needs auto_focus"
                self.auto_choice = self.auto_focus(frame, depth_frame)
                start = self.auto_choice.point_xy
            self.tracker = SubjectTracker(grey, start)
            point = self.tracker.first
        else:
            point = self.tracker.update(grey)
        self.last_point = (float(point.x), float(point.y))
        return self.last_point, bool(point.lost)

    def raw_disparity(self, item: FrameItem, previous: float | None) -> float:
        if self.request.focus_disparity is not None:
            return self.request.focus_disparity
        assert item.disparity is not None
        h, w = item.disparity.shape[-2:]
        point = item.guess_xy  # where the subject is on this frame
        if item.lost and previous is not None:
            return previous  # the subject is hidden: hold its focus
        from refocus_cli.focus import FocusSpec, focus_window

        inside = (float(np.clip(point[0], 0, w - 1)), float(np.clip(point[1], 0, h - 1)))  # a prediction may stray
        rows, cols, _ = focus_window(FocusSpec(point_xy=inside), self.request.input_path, (int(h), int(w)))
        return float(item.disparity[0, 0, rows, cols].median())

    def smoothed(self, items: Iterator[FrameItem]) -> Iterator[FrameItem]:
        """Items with their FocusSample, the focus disparity smoothed over +-reach frames (a zero-phase filter
        run on a sliding stretch, so each frame waits for `reach` later frames)."""
        emitted: deque[float] = deque(maxlen=self.reach)
        waiting: deque[tuple[FrameItem, float, bool]] = deque()
        previous: float | None = None
        for item in items:
            previous = self.raw_disparity(item, previous)
            waiting.append((item, previous, item.lost))
            if len(waiting) > self.reach:
                yield self._finish(emitted, waiting)
        while waiting:
            yield self._finish(emitted, waiting)

    def _finish(self, emitted: deque[float], waiting: deque[tuple[FrameItem, float, bool]]) -> FrameItem:
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
