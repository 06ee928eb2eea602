"""Focus over time: following a subject through synthetic clips, keyframes and steady tracks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from refocus_cli.errors import SettingsError
from refocus_cli.video.keyframes import (
    Keyframe,
    interpolate,
    keyframe_frames,
    parse_blur_keyframe,
    parse_focus_keyframe,
    smooth_track,
)
from refocus_cli.video.track import SubjectTracker, TrackPoint, track_subject

H, W, SUBJECT_PX, FRAMES = 120, 160, 28, 36
Path = Callable[[int], tuple[float, float]]  # frame -> subject centre (x, y) px


def texture(rng: np.random.Generator, shape: tuple[int, int], sigma: float = 1.2) -> np.ndarray:
    """Noise smoothed a little, stretched to grey levels 30..225 [h,w] float32."""
    import cv2

    smooth = cv2.GaussianBlur(rng.random(shape, dtype=np.float32), (0, 0), sigma)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return 30 + 195 * smooth


def shifted(image: np.ndarray, dx: float, dy: float, size_hw: tuple[int, int]) -> np.ndarray:
    """`image` moved by (dx, dy) px (bilinear) onto a zero canvas of `size_hw`."""
    import cv2

    move = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(image, move, (size_hw[1], size_hw[0]), flags=cv2.INTER_LINEAR)


def clip(
    path: Path,
    *,
    pan_px: float = 0.0,
    occluder: tuple[int, int, int, int] | None = None,
    subject_px: int = SUBJECT_PX,
    seed: int = 0,
) -> list[np.ndarray]:
    """FRAMES grey [H,W] uint8 frames: a textured square subject (side `subject_px`) centred on `path(i)` over a
    textured background panning `pan_px` per frame, under an optional textured occluder (x0, y0, x1, y1)."""
    rng = np.random.default_rng(seed)
    margin = int(abs(pan_px) * FRAMES) + 2
    background = texture(rng, (H, W + 2 * margin))
    subject = texture(rng, (subject_px, subject_px), sigma=1.0)
    cover = texture(rng, (H, W))
    half = (subject_px - 1) / 2
    frames = []
    for i in range(FRAMES):
        x, y = path(i)
        alpha = shifted(np.ones_like(subject), x - half, y - half, (H, W))
        frame = shifted(subject, x - half, y - half, (H, W)) + (1 - alpha) * shifted(
            background, pan_px * i - margin, 0.0, (H, W)
        )
        if occluder is not None:
            x0, y0, x1, y1 = occluder
            frame[y0:y1, x0:x1] = cover[y0:y1, x0:x1]
        frames.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return frames


def errors_px(points: list[TrackPoint], path: Path) -> np.ndarray:
    """Distance [T] px between each tracked point and the true subject centre."""
    return np.array([np.hypot(p.x - path(p.index)[0], p.y - path(p.index)[1]) for p in points])


def test_follows_a_translating_subject() -> None:
    def path(i: int) -> tuple[float, float]:
        return 30 + 2.7 * i, 60 + 25 * np.sin(i / 6)

    points = list(track_subject(clip(path), path(0)))
    assert [p.index for p in points] == list(range(FRAMES))
    assert not any(p.lost for p in points)
    assert errors_px(points, path).max() < 2.0


def test_float_frames_in_0_to_1_track_like_uint8() -> None:
    def path(i: int) -> tuple[float, float]:
        return 40 + 2.0 * i, 50 + 1.0 * i

    frames = [frame.astype(np.float32) / 255 for frame in clip(path, seed=3)[:12]]
    assert errors_px(list(track_subject(frames, path(0))), path).max() < 2.0


def test_reacquires_a_subject_after_an_occluder() -> None:
    occluder = (62, 40, 102, 80)  # 40 px square: the 28 px subject is wholly behind it for 3-4 frames

    def path(i: int) -> tuple[float, float]:
        return 18 + 3.5 * i, 60.0

    def visible(i: int) -> bool:
        x = path(i)[0]
        return x + SUBJECT_PX / 2 < occluder[0] or x - SUBJECT_PX / 2 > occluder[2]

    def hidden_wholly(i: int) -> bool:
        x = path(i)[0]
        return x - SUBJECT_PX / 2 >= occluder[0] and x + SUBJECT_PX / 2 <= occluder[2]

    hidden = [i for i in range(FRAMES) if hidden_wholly(i)]
    assert 3 <= len(hidden) <= 4
    points = list(track_subject(clip(path, occluder=occluder, seed=1), path(0)))
    error = errors_px(points, path)
    seen = [i for i in range(FRAMES) if visible(i)]
    after = [i for i in seen if i > hidden[-1]]
    assert len(after) >= 6
    assert error[seen].max() < 2.0
    assert not any(points[i].lost for i in after)
    assert any(points[i].lost for i in hidden)  # it knows it cannot see the subject


@pytest.mark.parametrize("subject_px", [SUBJECT_PX, 16])  # 16 px: most of the default 25 px box is background
def test_follows_the_subject_not_the_panning_background(subject_px: int) -> None:
    def path(i: int) -> tuple[float, float]:
        return 120 - 2.0 * i, 50 + 0.5 * i

    points = list(track_subject(clip(path, pan_px=2.5, subject_px=subject_px, seed=2), path(0)))
    assert not any(p.lost for p in points)
    assert errors_px(points, path).max() < 2.0


def test_tracker_starts_where_asked() -> None:
    tracker = SubjectTracker(np.zeros((H, W), np.uint8), (10.5, 20.0))
    assert tracker.first == TrackPoint(0, 10.5, 20.0, 1.0, False)
    flat = tracker.update(np.zeros((H, W), np.uint8))  # nothing to follow: it stays put, and says so
    assert (flat.x, flat.y, flat.lost) == (10.5, 20.0, True)


@pytest.mark.parametrize("point", [(900.0, 20.0), (-1.0, 5.0), (10.0, 480.0)])
def test_a_point_outside_the_first_frame_is_refused(point: tuple[float, float]) -> None:
    with pytest.raises(SettingsError, match=r"^--focus .*: outside the 640x480 frame$"):
        SubjectTracker(np.zeros((480, 640), np.uint8), point)


def test_outside_message_names_the_point() -> None:
    with pytest.raises(SettingsError) as caught:
        SubjectTracker(np.zeros((480, 640), np.uint8), (900, 20))
    assert str(caught.value) == "--focus 900,20: outside the 640x480 frame"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5:320,240", Keyframe(1.5, False, (320.0, 240.0))),
        ("2s:320,240", Keyframe(2.0, False, (320.0, 240.0))),
        ("45f:320.5,0", Keyframe(45.0, True, (320.5, 0.0))),
        (" .5 s : 1,2", Keyframe(0.5, False, (1.0, 2.0))),
    ],
)
def test_parse_focus_keyframe(text: str, expected: Keyframe) -> None:
    assert parse_focus_keyframe(text) == expected


def test_parse_blur_keyframe() -> None:
    assert parse_blur_keyframe("2.0:12") == Keyframe(2.0, False, (12.0,))
    assert parse_blur_keyframe("10f:0") == Keyframe(10.0, True, (0.0,))


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_focus_keyframe, "320,240"),
        (parse_focus_keyframe, "1.5:320"),
        (parse_focus_keyframe, "-1:3,4"),
        (parse_focus_keyframe, "1.5:a,b"),
        (parse_focus_keyframe, "1.5:-3,4"),
        (parse_focus_keyframe, "f45:3,4"),
        (parse_focus_keyframe, "4.5f:3,4"),
        (parse_focus_keyframe, "1:3,4\n5"),
        (parse_blur_keyframe, "2:-1"),
        (parse_blur_keyframe, "2:inf"),
        (parse_blur_keyframe, "2:1,2"),
        (parse_blur_keyframe, "2m:3"),
    ],
)
def test_bad_keyframes_are_one_line_errors_naming_the_text(parse: Callable[[str], Keyframe], text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(("--focus-at ", "--blur-at "))
    assert text.splitlines()[0] in message


def test_keyframe_frames_converts_and_sorts() -> None:
    keys = [parse_focus_keyframe("2s:1,1"), parse_focus_keyframe("10f:2,2"), parse_focus_keyframe("4:3,3")]
    assert keyframe_frames(keys, 25.0, 100, option="--focus-at") == [
        (10, (2.0, 2.0)),
        (50.0, (1.0, 1.0)),
        (99, (3.0, 3.0)),  # 4.00 s: the end of the clip, pinned to its last frame
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12s:10,10", "--focus-at 12s:10,10: outside the clip (0-4.00 s, 100 frames)"),
        ("100f:10,10", "--focus-at 100f:10,10: outside the clip (0-4.00 s, 100 frames)"),
    ],
)
def test_keyframes_outside_the_clip_are_refused(text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        keyframe_frames([parse_focus_keyframe(text)], 25.0, 100, option="--focus-at")
    assert str(caught.value) == message


def test_two_keyframes_on_one_frame_are_refused() -> None:
    keys = [parse_blur_keyframe("1s:4"), parse_blur_keyframe("25f:2")]
    with pytest.raises(SettingsError, match=r"^--blur-at 1s:4 and 25f:2: two keyframes on frame 25$"):
        keyframe_frames(keys, 25.0, 100, option="--blur-at")


def test_interpolation_hits_keyframes_is_monotone_between_and_holds_outside() -> None:
    keys: list[tuple[float, tuple[float, ...]]] = [(5, (10.0, 100.0)), (12, (30.0, 40.0)), (20, (35.0, 90.0))]
    values = interpolate(keys, 30)
    assert values.shape == (30, 2)
    for frame, value in keys:
        assert values[int(frame)].tolist() == list(value)  # exactly
    assert (values[:5] == values[5]).all() and (values[20:] == values[20]).all()
    steps = np.diff(values, axis=0)
    assert (steps[5:12, 0] >= 0).all() and (steps[12:20, 0] >= 0).all()
    assert (steps[5:12, 1] <= 0).all() and (steps[12:20, 1] >= 0).all()
    assert values[:, 0].max() == 35.0 and values[:, 1].min() == 40.0  # no overshoot


def test_interpolation_between_fractional_positions() -> None:
    values = interpolate([(2.5, (0.0,)), (7.5, (1.0,))], 10)[:, 0]
    assert (values[:3] == 0).all() and (values[8:] == 1).all()
    assert (np.diff(values) >= 0).all()
    assert values[5] == pytest.approx(0.5)


def test_one_keyframe_is_a_constant() -> None:
    assert (interpolate([(7.0, (4.0,))], 12) == 4.0).all()


def test_smooth_track_keeps_a_constant_and_a_step_monotone() -> None:
    constant = np.full((40, 2), 0.1234567)
    assert np.array_equal(smooth_track(constant, 25.0), constant)
    step = smooth_track(np.repeat([0.0, 1.0], 20), 25.0)
    assert step.shape == (40,)
    assert (np.diff(step) >= 0).all() and step[0] > 0 and step[-1] < 1


def test_smooth_track_removes_jitter() -> None:
    noisy = 0.5 + 0.02 * np.random.default_rng(0).standard_normal(40)
    smooth = smooth_track(noisy, 30.0)
    jitter_before, jitter_after = np.abs(np.diff(noisy)).mean(), np.abs(np.diff(smooth)).mean()
    assert jitter_after * 3 <= jitter_before
    assert abs(smooth.mean() - noisy.mean()) < 0.01  # no bias
