"""Focus and blur over time: keyframes the user writes, the value on every frame between them, steady tracks.

A keyframe is `TIME:VALUE`. TIME is seconds from the start of the clip (`1.5` or `1.5s`) or a frame number
counted from 0 with an `f` after it (`45f`). VALUE is a focus point `X,Y` in pixels of the frame
(`--focus-at 1.5:320,240`) or a blur strength `K` (`--blur-at 2s:12`).

Between keyframes the value moves along a monotone cubic (Fritsch-Carlson slopes, zero slope at the first and
last keyframe, so two keyframes give a smoothstep ease in and out): it passes exactly through each keyframe and
never overshoots one. Before the first keyframe and after the last it is held.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from refocus_cli.errors import SettingsError

TIME_SYNTAX = "TIME in seconds (1.5 or 1.5s) or a frame number from 0 (45f)"
_KEYFRAME = re.compile(r"^\s*(?P<time>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[sSfF]?)\s*:(?P<value>.*)$")
SAME_FRAME_TOLERANCE = 1e-6  # frames: keyframes closer than this sit on the same frame
GAUSS_RADIUS_SIGMAS = 4.0  # the smoothing kernel is cut at this many standard deviations


@dataclass(frozen=True)
class Keyframe:
    """A value the user pins to a moment: `value` is `(x_px, y_px)` for focus, `(k,)` for blur.

    `time` is in seconds, or a frame number (counted from 0) when `in_frames`.
    """

    time: float
    in_frames: bool
    value: tuple[float, ...]

    def __str__(self) -> str:
        """The keyframe as a user writes it.

        >>> str(Keyframe(12.0, False, (10.0, 10.0))), str(Keyframe(45, True, (3.5,)))
        ('12s:10,10', '45f:3.5')
        """
        when = f"{int(self.time)}f" if self.in_frames else f"{self.time:g}s"
        return f"{when}:{','.join(f'{v:g}' for v in self.value)}"


def parse_focus_keyframe(text: str, *, option: str = "--focus-at") -> Keyframe:
    """A focus keyframe `TIME:X,Y` (X, Y pixels of the frame, >= 0).

    >>> parse_focus_keyframe("1.5:320,240")
    Keyframe(time=1.5, in_frames=False, value=(320.0, 240.0))
    >>> parse_focus_keyframe("45f:320,240")
    Keyframe(time=45.0, in_frames=True, value=(320.0, 240.0))
    """
    expected = f"expected TIME:X,Y with {TIME_SYNTAX} and X,Y pixels"
    time, in_frames, value_text = _split(text, option, expected)
    value = _numbers(value_text, 2)
    if value is None or min(value) < 0:
        raise SettingsError(f"{option} {_shown(text)}: {expected}")
    return Keyframe(time, in_frames, value)


def parse_blur_keyframe(text: str, *, option: str = "--blur-at") -> Keyframe:
    """A blur keyframe `TIME:K` (K, the blur strength, >= 0).

    >>> parse_blur_keyframe("2.0:12")
    Keyframe(time=2.0, in_frames=False, value=(12.0,))
    """
    expected = f"expected TIME:K with {TIME_SYNTAX} and K a blur >= 0"
    time, in_frames, value_text = _split(text, option, expected)
    value = _numbers(value_text, 1)
    if value is None or value[0] < 0:
        raise SettingsError(f"{option} {_shown(text)}: {expected}")
    return Keyframe(time, in_frames, value)


def _split(text: str, option: str, expected: str) -> tuple[float, bool, str]:
    """(time, in_frames, value text) of `TIME:VALUE`; SettingsError when TIME is malformed."""
    match = _KEYFRAME.match(text)
    if match is None:
        raise SettingsError(f"{option} {_shown(text)}: {expected}")
    in_frames = match["unit"].lower() == "f"
    if in_frames and "." in match["time"]:
        raise SettingsError(f"{option} {_shown(text)}: a frame number is a whole number ({TIME_SYNTAX})")
    return float(match["time"]), in_frames, match["value"]


def _numbers(text: str, count: int) -> tuple[float, ...] | None:
    """`count` comma-separated finite numbers, else None."""
    parts = text.split(",")
    if len(parts) != count:
        return None
    try:
        numbers = tuple(float(part) for part in parts)
    except ValueError:
        return None
    return numbers if all(math.isfinite(n) for n in numbers) else None


def _shown(text: str) -> str:
    """The user's text as it may appear in a one-line message."""
    return text if text.isprintable() else repr(text)


def keyframe_frames(
    keys: list[Keyframe], fps: float, frame_count: int, *, option: str
) -> list[tuple[int | float, tuple[float, ...]]]:
    """Keyframes as (frame position, value), sorted by position; positions in seconds become `time * fps`.

    The clip lasts `frame_count / fps` seconds; a time in its last frame's span is pinned to the last frame.
    SettingsError for a keyframe outside the clip or two keyframes on the same frame.

    >>> keyframe_frames([parse_blur_keyframe("1s:4"), parse_blur_keyframe("10f:2")], 25.0, 100, option="--blur-at")
    [(10, (2.0,)), (25.0, (4.0,))]
    """
    if fps <= 0 or frame_count <= 0:
        raise ValueError(f"a clip needs fps > 0 and frames > 0, got {fps} fps and {frame_count} frames")
    last = frame_count - 1
    placed: list[tuple[int | float, Keyframe]] = []
    for key in keys:
        position: int | float
        if key.in_frames:
            position, inside = int(key.time), key.time <= last
        else:
            position, inside = min(key.time * fps, last), key.time * fps <= frame_count + SAME_FRAME_TOLERANCE
        if not inside:
            clip = f"0-{frame_count / fps:.2f} s, {frame_count} frames"
            raise SettingsError(f"{option} {key}: outside the clip ({clip})")
        placed.append((position, key))
    placed.sort(key=lambda item: item[0])
    for (a_pos, a_key), (b_pos, b_key) in itertools.pairwise(placed):
        if b_pos - a_pos < SAME_FRAME_TOLERANCE:
            raise SettingsError(f"{option} {a_key} and {b_key}: two keyframes on frame {a_pos:g}")
    return [(position, key.value) for position, key in placed]


def interpolate(keys: list[tuple[float, tuple[float, ...]]], frame_count: int) -> np.ndarray:
    """The value on every frame [frame_count, D] from (frame position, value) keyframes.

    A monotone cubic between keyframes (exact at each, no overshoot, eased at the first and last), held
    constant outside them; one keyframe gives a constant.

    >>> values = interpolate([(0, (0.0,)), (4, (1.0,))], 6)
    >>> values.shape, [round(float(v), 3) for v in values[:, 0]]
    ((6, 1), [0.0, 0.156, 0.5, 0.844, 1.0, 1.0])
    """
    if not keys:
        raise ValueError("interpolate needs at least one keyframe")
    ordered = sorted(keys, key=lambda item: item[0])
    t = np.array([float(position) for position, _ in ordered])  # [K] frames
    v = np.array([value for _, value in ordered], dtype=np.float64)  # [K,D]
    if len(t) == 1:
        return np.repeat(v, frame_count, axis=0)
    if np.any(np.diff(t) <= 0):
        raise ValueError("keyframe positions must differ")
    m = _monotone_slopes(t, v)  # [K,D] value per frame
    frames = np.arange(frame_count, dtype=np.float64)  # [F]
    seg = np.clip(np.searchsorted(t, frames, side="right") - 1, 0, len(t) - 2)  # [F] segment of each frame
    h = (t[seg + 1] - t[seg])[:, None]  # [F,1] frames
    u = np.clip((frames - t[seg]) / h[:, 0], 0.0, 1.0)[:, None]  # [F,1] 0..1 along the segment
    h00, h10 = (1 + 2 * u) * (1 - u) ** 2, u * (1 - u) ** 2  # cubic Hermite basis: exactly (1, 0) at u = 0
    h01, h11 = u**2 * (3 - 2 * u), u**2 * (u - 1)  # and (1, 0) for h01, h11 at u = 1
    return h00 * v[seg] + h10 * h * m[seg] + h01 * v[seg + 1] + h11 * h * m[seg + 1]


def _monotone_slopes(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Fritsch-Butland slopes [K,D] at keyframes t [K] of values v [K,D]: zero at the ends and at turns."""
    h = np.diff(t)[:, None]  # [K-1,1]
    d = np.diff(v, axis=0) / h  # [K-1,D] secant slopes
    m = np.zeros_like(v)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]  # [K-2,1] weights of the harmonic mean
    same_sign = d[:-1] * d[1:] > 0  # [K-2,D]
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / d[:-1] + w2 / d[1:])
    m[1:-1] = np.where(same_sign, harmonic, 0.0)
    return m


def smooth_track(values: np.ndarray, fps: float, *, time_constant_s: float = 0.25) -> np.ndarray:
    """A [T] or [T,D] series smoothed along time without delay (a Gaussian of sigma `time_constant_s`).

    Zero-phase: each frame is the Gaussian-weighted mean of its neighbours on both sides. At the clip's ends
    the kernel is cut and renormalised over the frames that exist, so nothing from outside the clip leaks
    in: a constant stays exactly constant and a monotone series (a step) stays monotone. The price: within
    about a sigma of either end, a steady ramp is pulled towards its inner values. Returns float64 of the
    input's shape.

    >>> smooth_track(np.array([0.0, 0.0, 1.0, 1.0]), 4.0).round(3).tolist()
    [0.084, 0.316, 0.684, 0.916]
    """
    series = np.asarray(values, dtype=np.float64)
    if series.ndim not in (1, 2):
        raise ValueError(f"expected a [T] or [T,D] series, got shape {series.shape}")
    sigma_frames = time_constant_s * fps
    if sigma_frames < 1e-3 or len(series) < 2:
        return series.copy()
    columns = series.reshape(len(series), -1)  # [T,D]
    radius = math.ceil(GAUSS_RADIUS_SIGMAS * sigma_frames)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma_frames) ** 2)  # [2r+1]
    count = len(series)
    weight = np.convolve(np.ones(count), kernel)[radius : radius + count]  # [T] kernel mass inside the clip
    reference = columns[0]  # smoothing the deviation from it keeps a constant bit-exact
    deviation = columns - reference
    out = np.empty_like(columns)
    for j in range(columns.shape[1]):
        out[:, j] = reference[j] + np.convolve(deviation[:, j], kernel)[radius : radius + count] / weight
    return out.reshape(series.shape)
