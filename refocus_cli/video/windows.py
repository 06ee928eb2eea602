"""Temporal windows: per-window models run on overlapping stretches of frames, blended back seamlessly.

Models that look at several frames at once (video depth, learned bokeh engines) see the clip in windows of
`window` frames that overlap by `overlap` frames, as in Any-to-Bokeh's weighted overlap inference. Each frame's
result is the weighted mean of the windows that hold it; a window's weights fall off (a raised cosine) over the
`overlap` frames at each end that meets a neighbour, so one window hands over to the next gradually instead of
with a jump.

`OverlapBlender` does this streaming: windows go in one by one and every frame comes out once no later window
can touch it, so memory holds about one window, never the clip.

Importing this module does not import torch (the CLI validates `WindowPlan` on its start-up path).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from refocus_cli.errors import SettingsError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class WindowPlan:
    """How a clip is cut into windows.

    Attributes:
        window: frames per window (>= 1).
        overlap: frames shared by neighbouring windows (0 <= overlap < window); consecutive windows start
            `window - overlap` frames apart.
    """

    window: int
    overlap: int

    def __post_init__(self) -> None:
        if self.window < 1:
            raise SettingsError(f"--window must be 1 or more, got {self.window}")
        if self.overlap < 0:
            raise SettingsError(f"--overlap must be 0 or more, got {self.overlap}")
        if self.overlap >= self.window:
            raise SettingsError(f"--overlap {self.overlap} must be smaller than --window {self.window}")

    @property
    def stride(self) -> int:
        """Frames between the starts of consecutive windows."""
        return self.window - self.overlap


def window_starts(frame_count: int, plan: WindowPlan) -> list[int]:
    """First frame of every window, in order, covering frames [0, frame_count).

    Windows start `plan.stride` frames apart; the last one is moved back so that it ends exactly at
    `frame_count` (it then overlaps its neighbour by more than `plan.overlap`). A clip shorter than a window is
    one window of `frame_count` frames; an empty clip has none.

    >>> window_starts(20, WindowPlan(8, 2))
    [0, 6, 12]
    >>> window_starts(21, WindowPlan(8, 2))
    [0, 6, 12, 13]
    >>> window_starts(5, WindowPlan(8, 2))
    [0]
    """
    if frame_count <= 0:
        return []
    if frame_count <= plan.window:
        return [0]
    starts = list(range(0, frame_count - plan.window + 1, plan.stride))
    if starts[-1] + plan.window < frame_count:
        starts.append(frame_count - plan.window)
    return starts


def window_length(start: int, frame_count: int, plan: WindowPlan) -> int:
    """Frames in the window that starts at `start`: `plan.window`, or fewer for a clip shorter than that."""
    return min(plan.window, frame_count - start)


def window_weights(
    length: int,
    overlap: int,
    *,
    at_start: bool,
    at_end: bool,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """[length] weights of one window's frames, in (0, 1].

    The `overlap` frames at an end that meets a neighbour ramp up along a raised cosine,
    0.5 - 0.5 cos(pi (k + 1) / (overlap + 1)) for k = 0 .. overlap - 1, which never reaches 0; an end at the
    clip's first frame (`at_start`) or last frame (`at_end`) keeps full weight 1. Where the two ramps of a short
    window meet they multiply. The ramps of neighbours that overlap by exactly `overlap` frames sum to 1.

    >>> import torch
    >>> window_weights(6, 2, at_start=True, at_end=False)
    tensor([1.0000, 1.0000, 1.0000, 1.0000, 0.7500, 0.2500])
    >>> inner = window_weights(8, 3, at_start=False, at_end=False)
    >>> torch.allclose(inner[-3:] + inner[:3], torch.ones(3))
    True
    """
    import torch

    dtype = dtype or torch.float32
    weights = torch.ones(length, device=device, dtype=torch.float64)
    ramp_frames = min(overlap, length)
    if ramp_frames > 0:
        k = torch.arange(1, ramp_frames + 1, device=device, dtype=torch.float64)
        ramp = 0.5 - 0.5 * torch.cos(math.pi * k / (overlap + 1))
        if not at_start:
            weights[:ramp_frames] *= ramp
        if not at_end:
            weights[length - ramp_frames :] *= ramp.flip(0)
    return weights.to(dtype)


class OverlapBlender:
    """Streaming weighted blend of overlapping windows.

    `push(start, values)` for each window in order, `values` [L,C,H,W] being the window's results for frames
    start .. start + L - 1; `pop_ready()` returns [(index, [1,C,H,W])] for the frames no later window will touch,
    in order; `flush()` at the end returns the rest. Each frame is returned exactly once:

        output[i] = sum_w weight_w[i] * value_w[i] / sum_w weight_w[i]

    over the windows w that hold frame i, with `window_weights`. The mean is kept as a running weighted mean,
    so a frame whose windows agree (or that one window holds) comes out bit for bit as they gave it.

    With `frame_count` the blender knows every window's start (`window_starts`): a frame is ready as soon as
    the last window that holds it is pushed, and at most one window of frames is held (`held_frames`).
    Without it a frame is ready only when a window starting after it arrives (the last window may be moved
    back, so the next start is unknown until then): up to a window plus a stride of frames are held.

    >>> import torch
    >>> blender = OverlapBlender(WindowPlan(4, 2), frame_count=6)
    >>> blender.push(0, torch.zeros(4, 1, 2, 2))
    >>> [index for index, _ in blender.pop_ready()]
    [0, 1]
    >>> blender.push(2, torch.ones(4, 1, 2, 2))
    >>> [(index, round(frame.mean().item(), 3)) for index, frame in blender.pop_ready()]
    [(2, 0.25), (3, 0.75), (4, 1.0), (5, 1.0)]
    """

    def __init__(self, plan: WindowPlan, frame_count: int | None = None) -> None:
        self.plan = plan
        self.frame_count = frame_count
        self._starts = window_starts(frame_count, plan) if frame_count is not None else None
        self._pushed = 0
        self._last_start = -1
        self._covered_until = 0
        self._first_held = 0
        self._means: deque[torch.Tensor] = deque()
        self._weights: deque[float] = deque()
        self._ready: list[tuple[int, torch.Tensor]] = []

    @property
    def held_frames(self) -> int:
        """Frames in memory: those still being blended and those ready but not yet popped."""
        return len(self._means) + len(self._ready)

    def push(self, start: int, values: torch.Tensor) -> None:
        """Add one window's results: `values` [L,C,H,W] for frames start .. start + L - 1."""
        import torch

        length = self._check_window(start, values)
        self._release_before(start)
        is_last = self._starts is not None and self._pushed == len(self._starts) - 1
        ramps = window_weights(length, self.plan.overlap, at_start=start == 0, at_end=is_last, dtype=torch.float64)
        weights = ramps.tolist()
        for offset in range(length):
            index = start + offset
            value = values[offset].detach()
            slot = index - self._first_held
            if slot == len(self._means):
                self._means.append(value.clone())
                self._weights.append(weights[offset])
            else:
                total = self._weights[slot] + weights[offset]
                # Running weighted mean: exact wherever the windows agree.
                self._means[slot] = self._means[slot] + (weights[offset] / total) * (value - self._means[slot])
                self._weights[slot] = total
        self._pushed += 1
        self._last_start = start
        self._covered_until = start + length
        if self._starts is not None:
            next_start = self._starts[self._pushed] if self._pushed < len(self._starts) else self._covered_until
            self._release_before(next_start)

    def pop_ready(self) -> list[tuple[int, torch.Tensor]]:
        """The finished frames since the last call, in order, as (index, [1,C,H,W])."""
        ready, self._ready = self._ready, []
        return ready

    def flush(self) -> list[tuple[int, torch.Tensor]]:
        """All frames not yet returned, in order; call once after the last window."""
        if self._starts is not None and self._pushed != len(self._starts):
            raise ValueError(f"flush after {self._pushed} of {len(self._starts)} windows")
        self._release_before(self._covered_until)
        return self.pop_ready()

    def _check_window(self, start: int, values: torch.Tensor) -> int:
        """The window's length, after checking it is the window expected next."""
        if values.ndim != 4 or values.shape[0] < 1:
            raise ValueError(f"window values must be [L,C,H,W] with L >= 1, got {tuple(values.shape)}")
        length = int(values.shape[0])
        if self._starts is not None and self.frame_count is not None:
            if self._pushed >= len(self._starts):
                raise ValueError(f"all {len(self._starts)} windows were already pushed")
            expected = self._starts[self._pushed]
            expected_length = window_length(expected, self.frame_count, self.plan)
            if (start, length) != (expected, expected_length):
                raise ValueError(
                    f"expected window {self._pushed} at frame {expected} with {expected_length} frames, "
                    f"got frame {start} with {length}"
                )
        elif start <= self._last_start or start > self._covered_until or length > self.plan.window:
            raise ValueError(
                f"window at frame {start} with {length} frames does not follow the window at frame "
                f"{self._last_start} (windows go in order, without gaps, at most {self.plan.window} frames)"
            )
        return length

    def _release_before(self, index: int) -> None:
        """Move the frames before `index` (final: no window still to come holds them) to the ready list."""
        while self._means and self._first_held < index:
            self._ready.append((self._first_held, self._means.popleft().unsqueeze(0)))
            self._weights.popleft()
            self._first_held += 1
