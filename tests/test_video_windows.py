"""Temporal windows (weighted overlap blending) and depth stabilisation for `refocus video`, on tiny synthetic
clips with exact expectations."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch

from refocus_cli.errors import SettingsError
from refocus_cli.render.scenes import random_layered_scene
from refocus_cli.video.stabilise import (
    DepthStabiliser,
    align_scale_shift,
    fit_scale_shift,
    motion_gated_average,
    stabilise_depth,
)
from refocus_cli.video.windows import OverlapBlender, WindowPlan, window_length, window_starts, window_weights

PLANS = [WindowPlan(1, 0), WindowPlan(4, 1), WindowPlan(5, 0), WindowPlan(8, 2), WindowPlan(8, 4), WindowPlan(8, 7)]
"""Window plans the blender is checked with: no overlap, small and large overlaps, ramps that meet."""

WindowModel = Callable[[int, int, int], torch.Tensor]
"""(window number, start, length) -> [length,C,H,W] values."""


def _blend(
    plan: WindowPlan, frame_count: int, model: WindowModel, *, count_known: bool = True
) -> tuple[list[int], list[torch.Tensor], int]:
    """Run a clip through the blender as the video loop does (pop after every push): the indices and frames
    returned, in order, and the most frames it held at any time."""
    blender = OverlapBlender(plan, frame_count if count_known else None)
    indices, frames, peak = [], [], 0
    for number, start in enumerate(window_starts(frame_count, plan)):
        blender.push(start, model(number, start, window_length(start, frame_count, plan)))
        peak = max(peak, blender.held_frames)
        for index, frame in blender.pop_ready():
            indices.append(index)
            frames.append(frame)
    for index, frame in blender.flush():
        indices.append(index)
        frames.append(frame)
    return indices, frames, peak


def _field(index: int) -> torch.Tensor:
    """[C,H,W] = [2,3,1] values that differ from frame to frame: f(frame index)."""
    return torch.linspace(0, 1, 6).view(2, 3, 1) * math.sin(0.3 * index) + 0.01 * index


# -- windows ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "overlap", "message"),
    [
        (0, 0, "--window must be 1 or more, got 0"),
        (4, -1, "--overlap must be 0 or more, got -1"),
        (8, 8, "--overlap 8 must be smaller than --window 8"),
        (4, 9, "--overlap 9 must be smaller than --window 4"),
    ],
)
def test_window_plan_rejects_bad_settings(window: int, overlap: int, message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}$"):
        WindowPlan(window, overlap)


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_windows_cover_the_clip_and_the_last_one_ends_at_its_end(plan: WindowPlan) -> None:
    assert window_starts(0, plan) == []
    for frame_count in range(1, 40):
        starts = window_starts(frame_count, plan)
        ends = [start + window_length(start, frame_count, plan) for start in starts]
        assert starts[0] == 0 and ends[-1] == frame_count
        assert all(start >= 0 for start in starts)
        assert all(a < b <= a + plan.stride for a, b in itertools.pairwise(starts))
        assert all(end - start == min(plan.window, frame_count) for start, end in zip(starts, ends, strict=True))


def test_window_starts_examples() -> None:
    assert window_starts(10, WindowPlan(4, 1)) == [0, 3, 6]
    assert window_starts(11, WindowPlan(4, 1)) == [0, 3, 6, 7]
    assert window_starts(3, WindowPlan(4, 1)) == [0]
    assert window_starts(4, WindowPlan(4, 1)) == [0]


@pytest.mark.parametrize(("length", "overlap"), [(8, 2), (8, 4), (8, 7), (5, 0), (3, 6), (1, 1)])
def test_window_weights_ramp_at_shared_ends_only(length: int, overlap: int) -> None:
    inner = window_weights(length, overlap, at_start=False, at_end=False)
    assert inner.shape == (length,) and inner.dtype == torch.float32
    assert bool((inner > 0).all()) and bool((inner <= 1).all())
    assert torch.allclose(inner, inner.flip(0))
    first = window_weights(length, overlap, at_start=True, at_end=False)
    last = window_weights(length, overlap, at_start=False, at_end=True)
    if overlap < length:  # (a window shorter than its ramps is ramped throughout)
        assert first[0] == 1 and last[-1] == 1
    assert torch.equal(window_weights(length, overlap, at_start=True, at_end=True), torch.ones(length))
    if overlap > 0 and 2 * overlap <= length:
        assert bool((inner[1:overlap] > inner[: overlap - 1]).all())  # rising along the ramp
        assert torch.allclose(inner[-overlap:] + inner[:overlap], torch.ones(overlap))  # neighbours sum to 1
        assert bool((inner[overlap:-overlap] == 1).all())
    assert window_weights(4, 2, at_start=False, at_end=False, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("count_known", [True, False], ids=["count-known", "count-unknown"])
@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_windows_that_agree_blend_to_exactly_what_they_say(plan: WindowPlan, count_known: bool) -> None:
    """A constant field stays that constant; windows of an exact model (values = f(frame index)) give f; every
    frame comes out once, in order."""
    constant = torch.full((1, 2, 3, 1), 0.3)
    for frame_count in (1, 7, 23):
        indices, frames, _ = _blend(
            plan, frame_count, lambda _n, _s, length: constant.expand(length, -1, -1, -1), count_known=count_known
        )
        assert indices == list(range(frame_count))
        assert all(torch.equal(frame, constant) for frame in frames)

        def exact(_number: int, start: int, length: int) -> torch.Tensor:
            return torch.stack([_field(start + i) for i in range(length)])

        indices, frames, _ = _blend(plan, frame_count, exact, count_known=count_known)
        assert indices == list(range(frame_count))
        assert all(torch.equal(frame[0], _field(index)) for index, frame in zip(indices, frames, strict=True))


@pytest.mark.parametrize("plan", [WindowPlan(16, 4), WindowPlan(8, 2), WindowPlan(8, 6), WindowPlan(3, 0)], ids=str)
def test_memory_holds_one_window_however_long_the_clip(plan: WindowPlan) -> None:
    """500 frames of [1,1,2,2]: at most `window` frames held when the frame count is known (so within
    window + overlap), at most window + stride without it; the same peak for a short clip as for a long one."""

    def model(_number: int, start: int, length: int) -> torch.Tensor:
        return torch.arange(start, start + length, dtype=torch.float32).view(-1, 1, 1, 1).expand(length, 1, 2, 2)

    peaks = {}
    for frame_count in (60, 500):
        for count_known in (True, False):
            indices, frames, peak = _blend(plan, frame_count, model, count_known=count_known)
            assert indices == list(range(frame_count))
            assert all(torch.equal(frame, torch.full((1, 1, 2, 2), float(i))) for i, frame in enumerate(frames))
            peaks[frame_count, count_known] = peak
    assert peaks[500, True] == peaks[60, True] <= plan.window <= plan.window + plan.overlap
    assert peaks[500, False] == peaks[60, False] <= plan.window + plan.stride


@pytest.mark.parametrize("frame_count", [40, 43])
@pytest.mark.parametrize("plan", [WindowPlan(8, 2), WindowPlan(10, 4), WindowPlan(12, 6)], ids=str)
def test_windows_with_different_offsets_join_without_a_jump(plan: WindowPlan, frame_count: int) -> None:
    """Window w adds its own offset c_w to a smooth signal: the change between consecutive frames never exceeds
    the signal's own plus |c_w - c_w+1| sin(pi / (2 (overlap + 1))), the steepest step of the raised-cosine
    hand-over (pi/2 times the even spread |c_w - c_w+1| / (overlap + 1) of a linear one). 43 frames moves the
    last window back."""
    generator = torch.Generator().manual_seed(frame_count)
    offsets = torch.rand(len(window_starts(frame_count, plan)), generator=generator) - 0.5
    slope = 0.01

    def model(number: int, start: int, length: int) -> torch.Tensor:
        frames = slope * torch.arange(start, start + length, dtype=torch.float64) + offsets[number]
        return frames.view(-1, 1, 1, 1)

    _, frames, _ = _blend(plan, frame_count, model)
    steps = torch.cat(frames).flatten().diff() - slope
    largest_offset_step = float(offsets.diff().abs().max())
    bound = largest_offset_step * math.sin(math.pi / (2 * (plan.overlap + 1)))
    assert float(steps.abs().max()) <= bound + 1e-12
    assert bound < 0.6 * largest_offset_step  # the hand-over is spread, not a jump


def test_blender_rejects_windows_out_of_order() -> None:
    plan = WindowPlan(4, 1)
    blender = OverlapBlender(plan, 10)
    with pytest.raises(ValueError, match="expected window 0 at frame 0"):
        blender.push(3, torch.zeros(4, 1, 1, 1))
    blender.push(0, torch.zeros(4, 1, 1, 1))
    with pytest.raises(ValueError, match="flush after 1 of 3 windows"):
        blender.flush()
    unknown = OverlapBlender(plan)
    unknown.push(0, torch.zeros(4, 1, 1, 1))
    with pytest.raises(ValueError, match="does not follow"):
        unknown.push(5, torch.zeros(4, 1, 1, 1))  # a gap: frame 4 would be missing
    with pytest.raises(ValueError, match=r"\[L,C,H,W\]"):
        unknown.push(3, torch.zeros(4, 1, 1))


# -- depth stabilisation ------------------------------------------------------------------------------------------


def _layered_disparity(seed: int) -> torch.Tensor:
    """[1,1,64,96] disparity of a random layered scene, in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return random_layered_scene((64, 96), generator=generator, lights_per_layer=0).disparity_map()


def _affine_fit_error(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean absolute error of `estimate` [T,1,H,W] against `truth` after one least-squares scale and shift."""
    x, y = estimate.flatten().double(), truth.expand_as(estimate).flatten().double()
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    solution = torch.linalg.lstsq(design, y.unsqueeze(1)).solution
    return float((design @ solution - y.unsqueeze(1)).abs().mean())


def _flicker(frames: torch.Tensor) -> float:
    """Mean absolute frame-to-frame change of [T,1,H,W]."""
    return float(frames.diff(dim=0).abs().mean())


@pytest.mark.parametrize("seed", [0, 5, 11])
def test_align_recovers_a_known_scale_and_shift(seed: int) -> None:
    reference = _layered_disparity(seed)
    scale, shift = 1.7, -0.3
    disparity = (reference - shift) / scale  # reference = scale * disparity + shift
    fitted = fit_scale_shift(disparity, reference)
    assert fitted == pytest.approx((scale, shift), abs=1e-5)
    assert torch.allclose(align_scale_shift(disparity, reference), reference, atol=1e-5)


@pytest.mark.parametrize("outlier", ["random", "near", "far"])
@pytest.mark.parametrize("seed", [0, 5, 11])
def test_align_ignores_a_fifth_of_the_pixels_being_wrong(seed: int, outlier: str) -> None:
    """20% of the reference replaced by noise, or saturated near or far: the robust fit still finds s and t,
    where plain least squares is far off."""
    reference = _layered_disparity(seed)
    scale, shift = 1.7, -0.3
    disparity = (reference - shift) / scale
    generator = torch.Generator().manual_seed(100 + seed)
    wrong = torch.rand(reference.shape, generator=generator) < 0.2
    values = {
        "random": torch.rand(reference.shape, generator=generator),
        "near": torch.ones_like(reference),
        "far": torch.zeros_like(reference),
    }[outlier]
    corrupted = torch.where(wrong, values, reference)
    assert fit_scale_shift(disparity, corrupted) == pytest.approx((scale, shift), abs=1e-5)
    assert fit_scale_shift(disparity, corrupted, mask=~wrong) == pytest.approx((scale, shift), abs=1e-5)
    x = torch.stack([disparity.flatten().double(), torch.ones(disparity.numel(), dtype=torch.float64)], dim=1)
    plain = torch.linalg.lstsq(x, corrupted.flatten().double().unsqueeze(1)).solution.flatten().tolist()
    assert max(abs(plain[0] - scale), abs(plain[1] - shift)) > 0.02


def test_align_of_a_flat_frame_only_shifts_it() -> None:
    reference = _layered_disparity(0)
    flat = torch.full_like(reference, 0.4)
    assert fit_scale_shift(flat, reference) == (1.0, pytest.approx(float((reference - 0.4).median())))
    assert torch.equal(align_scale_shift(flat, flat), flat)
    assert torch.equal(align_scale_shift(flat, reference, mask=torch.zeros_like(flat, dtype=torch.bool)), flat)


def test_static_scene_stops_flickering() -> None:
    """A static layered scene, 40 frames, each with its own scale (0.8-1.2), shift (+-0.1) and noise (sigma
    0.03), clamped to [0, 1]. Measured: frame-to-frame change 0.0962 raw, 0.0032 stabilised (30x less);
    error after one global scale/shift fit 0.057 raw, 0.016 stabilised (after a fit per frame: 0.023 raw)."""
    truth = _layered_disparity(3)
    generator = torch.Generator().manual_seed(3)
    raw = []
    for _ in range(40):
        scale = 0.8 + 0.4 * float(torch.rand(1, generator=generator))
        shift = 0.2 * float(torch.rand(1, generator=generator)) - 0.1
        noise = 0.03 * torch.randn(truth.shape, generator=generator)
        raw.append((scale * truth + shift + noise).clamp(0, 1))
    stable = torch.cat(list(stabilise_depth(raw)))
    raw_frames = torch.cat(raw)
    assert _flicker(raw_frames) / _flicker(stable) >= 3.0
    assert _affine_fit_error(stable, truth) < _affine_fit_error(raw_frames, truth)
    per_frame_raw = sum(_affine_fit_error(frame, truth) for frame in raw) / len(raw)
    assert _affine_fit_error(stable, truth) < per_frame_raw  # better than the best any raw frame can do


def _square(frame: int, top: int, left: int, side: int, step_px: int) -> tuple[slice, slice]:
    x = left + step_px * frame
    return slice(top, top + side), slice(x, x + side)


def test_moving_objects_are_followed_not_smeared() -> None:
    """Two squares move 2 px/frame over a static layered background (no noise): one far in front of it, one at
    a disparity that differs from the background by about the motion threshold or less, so the gate is only
    partly open. From the third frame on, each square's pixels and the pixels it left two frames ago are
    within 0.05 of the truth."""
    background = _layered_disparity(7)
    squares = [(4, 2, 12, 0.95), (40, 60, 10, 0.3)]  # top, left, side, disparity
    truth = []
    for t in range(20):
        frame = background.clone()
        for top, left, side, disparity in squares:
            rows, cols = _square(t, top, left, side, step_px=2 if left < 30 else -2)
            frame[..., rows, cols] = disparity
        truth.append(frame)
    stable = list(stabilise_depth(truth))
    for t in range(2, 20):
        error = (stable[t] - truth[t]).abs()
        for top, left, side, _ in squares:
            step_px = 2 if left < 30 else -2
            rows, cols = _square(t, top, left, side, step_px)
            assert float(error[..., rows, cols].max()) <= 0.05
            before_rows, before_cols = _square(t - 2, top, left, side, step_px)
            left_behind = torch.zeros_like(error, dtype=torch.bool)
            left_behind[..., before_rows, before_cols] = True
            left_behind[..., rows, cols] = False
            assert float(error[left_behind].max()) <= 0.05
        assert float(error.max()) <= 0.05


@pytest.mark.parametrize("kind", ["flat", "layered"])
def test_constant_input_stays_exactly_constant(kind: str) -> None:
    disparity = torch.full((1, 1, 32, 48), 0.37) if kind == "flat" else _layered_disparity(2)
    stabiliser = DepthStabiliser()
    for _ in range(6):
        assert torch.equal(stabiliser.push(disparity), disparity)


def test_gate_averages_agreement_and_follows_change() -> None:
    estimate = torch.zeros(1, 1, 1, 3)
    current = torch.tensor([0.02, 0.08, 0.5]).view(1, 1, 1, 3)
    out = motion_gated_average(estimate, current, time_constant_frames=4.0, motion_threshold=0.08)
    memory = ((current - out) / current).flatten().tolist()
    keep = math.exp(-1 / 4)
    assert memory == pytest.approx([keep * math.exp(-((0.02 / 0.08) ** 2)), keep / math.e, 0.0], abs=1e-6)
    assert torch.equal(motion_gated_average(estimate, current, time_constant_frames=0, motion_threshold=0.08), current)


def test_stabiliser_keeps_dtype_and_is_the_generator() -> None:
    frames = [(_layered_disparity(4) * (1 + 0.1 * i)).double() for i in range(4)]
    stabiliser = DepthStabiliser(time_constant_frames=2.0, motion_threshold=0.05)
    pushed = [stabiliser.push(frame) for frame in frames]
    generated = list(stabilise_depth(frames, time_constant_frames=2.0, motion_threshold=0.05))
    assert all(torch.equal(a, b) and a.dtype == torch.float64 for a, b in zip(pushed, generated, strict=True))
    assert pushed[1] is not pushed[2]
    with pytest.raises(ValueError, match=r"\[1,1,H,W\]"):
        stabiliser.push(torch.zeros(1, 3, 64, 96))
    with pytest.raises(ValueError, match="frame size changed"):
        stabiliser.push(torch.zeros(1, 1, 32, 48))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"time_constant_frames": -1.0}, "the depth time constant must be 0 frames or more, got -1.0"),
        ({"motion_threshold": 0.0}, "the depth motion threshold must be above 0, got 0.0"),
        ({"motion_threshold": float("nan")}, "the depth motion threshold must be above 0, got nan"),
    ],
)
def test_stabiliser_rejects_bad_settings(settings: dict[str, float], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}$"):
        DepthStabiliser(**settings)
