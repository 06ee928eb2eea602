"""Follow a subject through a clip so focus stays on it (`refocus video --focus X,Y`).

The user picks a point on the first frame. On each next frame the corners in a box around the point
(`cv2.goodFeaturesToTrack`) are followed with pyramidal Lucas-Kanade flow (`cv2.calcOpticalFlowPyrLK`) forwards
and back; those that come back to within FB_MAX_PX of where they started vote, and the median of their
displacements, weighted towards the corners nearest the point, moves it. Within REFINE_PX of there the
subject's templates are matched (`cv2.matchTemplate`), which stops the drift that flow alone builds up: the
first frame's patch, and a copy of it that slowly follows the subject's look. Both are compared by normalised
cross-correlation weighted by a Gaussian around the centre (CENTRE_SIGMA), since the box's edges may be
background; the best must reach KEEP_SCORE. Otherwise both templates are searched for around where the
subject's velocity predicts it, and a match must reach FIND_SCORE (a wide search meets more chance matches).
When nothing matches the subject is hidden: the point coasts on its fading velocity and the search window grows
each frame, up to MAX_SEARCH_BOXES box sides, until a match reaches FIND_SCORE again.

The subject should fill most of the box: one under about half the box's side is followed less surely (most of
the box then moves with the background); pass a smaller `box_px` for small subjects.

Streaming: the tracker holds the previous frame, two small templates and a few numbers. The functional core
is `track_step`, a function of a frozen `TrackState` and the next frame; `SubjectTracker` only holds the state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from refocus_cli.errors import SettingsError

BOX_FRACTION = 1 / 8  # default box side, of the frame's short side
MIN_BOX_PX = 24
LK_WIN_PX = 15  # Lucas-Kanade window side
LK_LEVELS = 3  # pyramid levels above the frame: follows motions up to about LK_WIN_PX * 2**LK_LEVELS / 2
MAX_CORNERS = 64
MIN_VOTES = 4  # fewer agreeing corners than this and the flow is not trusted
FB_MAX_PX = 1.0  # forward-backward error above which a corner does not vote
REFINE_PX = 2.0  # the templates are matched this far around where the flow puts the subject
KEEP_SCORE = 0.6  # correlation with a template that keeps a followed subject followed
FIND_SCORE = 0.7  # correlation with a template that finds a hidden subject again
ADAPT_SCORE = 0.8  # the slow template learns only from patches this much like the subject
ADAPT_RATE = 0.05  # share of the new patch in the slow template per frame
VELOCITY_RATE = 0.5  # share of the newest displacement in the velocity estimate
COAST_DECAY = 0.95  # velocity kept per hidden frame
MAX_SEARCH_BOXES = 4  # the search radius grows to at most this many box sides
PRIOR_WEIGHT = 0.1  # correlation given up at the search radius, so near matches win ties
FLAT_STD = 1.0  # grey levels: a template flatter than this matches nothing
CENTRE_SIGMA = 0.25  # of the box side: the Gaussian that weights pixels and corners by nearness to the point


@dataclass(frozen=True)
class TrackPoint:
    """Where the subject is on frame `index`: `x`, `y` pixels, `confidence` 0..1 (the template correlation).

    While `lost` the subject is not visible (occluded, or out of the frame); `x`, `y` then hold the position its
    last velocity predicts, kept inside the frame.
    """

    index: int
    x: float
    y: float
    confidence: float
    lost: bool


@dataclass(frozen=True, eq=False)
class TrackState:
    """All a tracker carries from one frame to the next."""

    grey: np.ndarray  # [H,W] uint8, the last frame
    point: TrackPoint  # the subject on the last frame
    velocity_xy: tuple[float, float]  # px per frame
    template: np.ndarray  # [B,B] float32, the subject on frame 0 (B odd)
    recent: np.ndarray  # [B,B] float32, the subject's recent look
    hidden_frames: int  # frames since the subject was last seen


def default_box_px(size_hw: tuple[int, int]) -> int:
    """The side of the box around the subject (odd, px) for a frame of `size_hw`.

    >>> default_box_px((120, 160)), default_box_px((1080, 1920))
    (25, 135)
    """
    return max(MIN_BOX_PX, round(min(size_hw) * BOX_FRACTION)) | 1


def start_track(first_grey: np.ndarray, point_xy: tuple[float, float], *, box_px: int | None = None) -> TrackState:
    """The state on frame 0 [H,W] (uint8, or float in 0..1) with the subject at `point_xy` (pixels) and a box of
    `box_px` (made odd; default `default_box_px`) around it.

    SettingsError when the point is outside the frame.
    """
    grey = as_grey_u8(first_grey)
    h, w = grey.shape
    x, y = float(point_xy[0]), float(point_xy[1])
    if not (0 <= x < w and 0 <= y < h):
        raise SettingsError(f"--focus {x:g},{y:g}: outside the {w}x{h} frame")
    box = default_box_px((h, w)) if box_px is None else int(box_px) | 1
    if box < 5:
        raise ValueError(f"box_px must be at least 5, got {box_px}")
    template = _patch(grey, (x, y), box)
    return TrackState(grey, TrackPoint(0, x, y, 1.0, False), (0.0, 0.0), template, template, 0)


def track_step(state: TrackState, grey: np.ndarray) -> TrackState:
    """The state after the next frame [H,W] (uint8, or float in 0..1); its `point` is the subject there."""
    cur = as_grey_u8(grey)
    if cur.shape != state.grey.shape:
        raise ValueError(f"frame of shape {cur.shape} after frames of shape {state.grey.shape}")
    last, (vx, vy) = state.point, state.velocity_xy
    found = _find(state, cur)
    index = last.index + 1
    if found is None:
        px, py = _clamp((last.x + vx, last.y + vy), cur.shape)
        coast = (vx * COAST_DECAY, vy * COAST_DECAY)
        point = TrackPoint(index, px, py, 0.0, True)
        return TrackState(cur, point, coast, state.template, state.recent, state.hidden_frames + 1)
    x, y, score = found
    if not last.lost:
        vx += VELOCITY_RATE * (x - last.x - vx)
        vy += VELOCITY_RATE * (y - last.y - vy)
    recent = state.recent
    if score >= ADAPT_SCORE:
        recent = (1 - ADAPT_RATE) * recent + ADAPT_RATE * _patch(cur, (x, y), recent.shape[0])
    point = TrackPoint(index, x, y, float(min(max(score, 0.0), 1.0)), False)
    return TrackState(cur, point, (vx, vy), state.template, recent, 0)


def _find(state: TrackState, cur: np.ndarray) -> tuple[float, float, float] | None:
    """The subject (x, y, correlation) on the frame `cur` [H,W] uint8 after `state`, or None where it is hidden."""
    last, (vx, vy) = state.point, state.velocity_xy
    box = state.template.shape[0]
    templates = (state.template, state.recent)
    if not last.lost:  # flow from a hidden subject's stale place would follow whatever hides it
        shift = _flow_shift(state.grey, cur, (last.x, last.y), box)
        if shift is not None and _inside((last.x + shift[0], last.y + shift[1]), cur.shape):
            x, y = last.x + shift[0], last.y + shift[1]
            refined = _search(cur, templates, (x, y), REFINE_PX)  # flow drifts a little each frame: templates anchor it
            if refined is None:
                refined = (x, y, max(_ncc(_patch(cur, (x, y), box), t) for t in templates))
            if refined[2] >= KEEP_SCORE:
                return refined
    predicted = _clamp((last.x + vx, last.y + vy), cur.shape)
    radius = min(box * (1 + 2 * state.hidden_frames) + 2 * math.hypot(vx, vy), MAX_SEARCH_BOXES * box)
    hit = _search(cur, templates, predicted, radius)
    return hit if hit is not None and hit[2] >= FIND_SCORE else None


class SubjectTracker:
    """Follows a subject frame by frame; `first` is its TrackPoint on frame 0, `update` gives the next one.

    A thin holder of `TrackState` around `track_step`; see the module's docstring for the method.
    """

    def __init__(self, first_grey: np.ndarray, point_xy: tuple[float, float], *, box_px: int | None = None) -> None:
        self._state = start_track(first_grey, point_xy, box_px=box_px)
        self.first = self._state.point

    def update(self, grey: np.ndarray) -> TrackPoint:
        """The subject on the next frame [H,W] (uint8, or float in 0..1)."""
        self._state = track_step(self._state, grey)
        return self._state.point


def track_subject(
    greys: Iterable[np.ndarray], point_xy: tuple[float, float], *, box_px: int | None = None
) -> Iterator[TrackPoint]:
    """The subject's TrackPoint on each of the frames [H,W] (from `point_xy` on the first), one at a time."""
    frames = iter(greys)
    first = next(frames, None)
    if first is None:
        return
    tracker = SubjectTracker(first, point_xy, box_px=box_px)
    yield tracker.first
    for grey in frames:
        yield tracker.update(grey)


def as_grey_u8(grey: np.ndarray) -> np.ndarray:
    """A [H,W] uint8 frame from uint8, or from float in 0..1.

    >>> as_grey_u8(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist()
    [[0, 128, 255]]
    """
    if grey.ndim != 2:
        raise ValueError(f"expected a [H,W] grey frame, got shape {grey.shape}")
    if grey.dtype == np.uint8:
        return np.ascontiguousarray(grey)
    return np.clip(np.asarray(grey, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _flow_shift(prev: np.ndarray, cur: np.ndarray, xy: tuple[float, float], box_px: int) -> tuple[float, float] | None:
    """Median displacement (dx, dy) px from `prev` to `cur` of the corners in the box around `xy`; None when
    fewer than MIN_VOTES corners survive the forward-backward check."""
    import cv2

    x0, y0, x1, y1 = _window(xy, box_px / 2, prev.shape)
    if x1 - x0 < 5 or y1 - y0 < 5:
        return None
    spacing = max(2, box_px // 12)
    corners = cv2.goodFeaturesToTrack(prev[y0:y1, x0:x1], MAX_CORNERS, 0.01, spacing, blockSize=5)
    if corners is None or len(corners) < MIN_VOTES:
        return None
    # Flow only inside a window around the box: the cost is bounded by the box, not the frame.
    c0, r0, c1, r1 = _window(xy, 1.5 * box_px + LK_WIN_PX * 2**LK_LEVELS / 2, prev.shape)
    start = (np.asarray(corners).reshape(-1, 1, 2) + np.array([x0 - c0, y0 - r0])).astype(np.float32)  # [N,1,2]
    a, b = prev[r0:r1, c0:c1], cur[r0:r1, c0:c1]
    ahead, ok_ahead = _lucas_kanade(a, b, start)
    back, ok_back = _lucas_kanade(b, a, ahead)
    fb_error = np.linalg.norm((back - start).reshape(-1, 2), axis=1)  # [N] px
    votes = ok_ahead & ok_back & (fb_error < FB_MAX_PX)
    if votes.sum() < MIN_VOTES:
        return None
    # Corners near the point speak for the subject more surely than those at the box's edge, which may be background.
    offsets = start.reshape(-1, 2)[votes] - np.array([xy[0] - c0, xy[1] - r0])  # [V,2] px from the point
    weights = np.exp(-0.5 * (offsets**2).sum(axis=1) / (CENTRE_SIGMA * box_px) ** 2)  # [V]
    moves = (ahead - start).reshape(-1, 2)[votes]  # [V,2]
    return _weighted_median(moves[:, 0], weights), _weighted_median(moves[:, 1], weights)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value [N] below which half the weight [N] lies.

    >>> _weighted_median(np.array([0.0, 5.0, 1.0]), np.array([1.0, 1.0, 3.0]))
    1.0
    """
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _lucas_kanade(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where `points` [N,1,2] float32 of frame `a` are on frame `b` [N,1,2], and which were found [N] bool."""
    import cv2

    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    moved, found, _ = cv2.calcOpticalFlowPyrLK(
        a, b, points, points.copy(), winSize=(LK_WIN_PX, LK_WIN_PX), maxLevel=LK_LEVELS, criteria=criteria
    )
    return np.asarray(moved, np.float32), np.asarray(found).ravel() == 1


def _search(
    grey: np.ndarray, templates: tuple[np.ndarray, ...], centre_xy: tuple[float, float], radius_px: float
) -> tuple[float, float, float] | None:
    """The best match (x, y, correlation) of any template whose centre lies within `radius_px` of `centre_xy`.

    Correlation is zero-mean normalised (-1..1), located to a fraction of a pixel by a parabola through the
    peak; None when the window does not hold a whole template or every template is flat.
    """
    import cv2

    box = templates[0].shape[0]
    x0, y0, x1, y1 = _window(centre_xy, radius_px + box / 2, grey.shape)
    region = grey[y0:y1, x0:x1].astype(np.float32)
    textured = [t for t in templates if float(t.std()) >= FLAT_STD]
    if region.shape[0] < box or region.shape[1] < box or not textured:
        return None
    weights = _centre_weights(box)
    scores = np.max([cv2.matchTemplate(region, t, cv2.TM_CCOEFF_NORMED, mask=weights) for t in textured], axis=0)
    scores = np.clip(np.nan_to_num(scores, nan=-1.0), -1.0, 1.0)
    half = (box - 1) / 2
    rows, cols = np.mgrid[: scores.shape[0], : scores.shape[1]]
    distance2 = (x0 + cols + half - centre_xy[0]) ** 2 + (y0 + rows + half - centre_xy[1]) ** 2
    iy, ix = np.unravel_index(int(np.argmax(scores - PRIOR_WEIGHT * distance2 / radius_px**2)), scores.shape)
    fx = _parabola_peak(scores[iy, ix - 1 : ix + 2]) if 0 < ix < scores.shape[1] - 1 else 0.0
    fy = _parabola_peak(scores[iy - 1 : iy + 2, ix]) if 0 < iy < scores.shape[0] - 1 else 0.0
    return float(x0 + ix + fx + half), float(y0 + iy + fy + half), float(scores[iy, ix])


def _parabola_peak(three: np.ndarray) -> float:
    """Offset (-0.5..0.5) of the vertex of the parabola through three samples around a maximum."""
    left, mid, right = (float(v) for v in three)
    curvature = left - 2 * mid + right
    return 0.0 if curvature >= 0 else min(max(0.5 * (left - right) / curvature, -0.5), 0.5)


def _patch(grey: np.ndarray, xy: tuple[float, float], box_px: int) -> np.ndarray:
    """The [B,B] float32 patch centred on `xy` (sub-pixel; edges of the frame replicated)."""
    import cv2

    return cv2.getRectSubPix(grey, (box_px, box_px), (float(xy[0]), float(xy[1])), patchType=cv2.CV_32F)


def _ncc(patch: np.ndarray, template: np.ndarray) -> float:
    """Centre-weighted normalised cross-correlation (-1..1) of two [B,B] patches, as `_search` scores; 0 when
    either is flat."""
    import cv2

    if float(patch.std()) < FLAT_STD or float(template.std()) < FLAT_STD:
        return 0.0
    score = cv2.matchTemplate(patch, template, cv2.TM_CCOEFF_NORMED, mask=_centre_weights(patch.shape[0]))
    return float(np.clip(np.nan_to_num(score[0, 0], nan=0.0), -1.0, 1.0))


def _centre_weights(box_px: int) -> np.ndarray:
    """[B,B] float32 Gaussian weights, 1 at the centre, sigma CENTRE_SIGMA of the box."""
    axis = np.arange(box_px, dtype=np.float32) - (box_px - 1) / 2
    g = np.exp(-0.5 * (axis / (CENTRE_SIGMA * box_px)) ** 2)
    return np.outer(g, g).astype(np.float32)


def _window(centre_xy: tuple[float, float], half_px: float, size_hw: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Slice bounds (x0, y0, x1, y1) of the square of half-side `half_px` around `centre_xy`, cut to the frame."""
    h, w = size_hw[:2]
    x, y = centre_xy
    x0, y0 = max(0, math.floor(x - half_px)), max(0, math.floor(y - half_px))
    return x0, y0, min(w, math.ceil(x + half_px) + 1), min(h, math.ceil(y + half_px) + 1)


def _inside(xy: tuple[float, float], size_hw: tuple[int, ...]) -> bool:
    return 0 <= xy[0] <= size_hw[1] - 1 and 0 <= xy[1] <= size_hw[0] - 1


def _clamp(xy: tuple[float, float], size_hw: tuple[int, ...]) -> tuple[float, float]:
    return float(min(max(xy[0], 0.0), size_hw[1] - 1.0)), float(min(max(xy[1], 0.0), size_hw[0] - 1.0))
