"""What a bench run measures: sizes, blur strengths, scene counts and repetitions, for a full run and for the
CI-sized `--quick` one. Plain data; the sections read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PairSet = Literal["ends", "ends+middle"]


@dataclass(frozen=True)
class SpeedPlan:
    """Speed cases.

    Attributes:
        sizes_wh: input sizes (width, height) in pixels; every size is run at every K.
        blurs_k_px: K, CoC radius in pixels per unit disparity difference.
        runs: timed runs per case after one warm-up (the median is reported) ...
        budget_s: ... but no new timed run starts after this many seconds of them (at least one runs).
        gather_limit_s: the naive gather baseline is not run where its estimated time per render exceeds this.
        video_size_wh: the synthetic clip's size for video fps.
        video_frames: its length.
        video_blur_k_px: K of the video runs.
    """

    sizes_wh: tuple[tuple[int, int], ...]
    blurs_k_px: tuple[float, ...]
    runs: int
    budget_s: float
    gather_limit_s: float
    video_size_wh: tuple[int, int]
    video_frames: int
    video_blur_k_px: float = 12.0


@dataclass(frozen=True)
class FidelityPlan:
    """Fidelity cases, all on seeded procedural scenes with exact truth.

    Attributes:
        scenes: random layered scenes per K for renderer fidelity.
        size_hw: their size (height, width).
        blurs_k_px: K values of the renderer fidelity.
        reference_samples: aperture samples of the exact reference; None = enough for sub-pixel spacing.
        restore_scenes, restore_blurs_k_px: scenes and K values of the restore gain.
        fusion_scenes, fusion_size_hw, fusion_blur_k_px, fusion_samples: synthetic captured focal stacks
            (frames of fusion_size_hw, rendered at twice that size) and the reference samples for them.
        flicker_size_wh, flicker_frames: the static clip with noisy depth for video flicker.
    """

    scenes: int
    size_hw: tuple[int, int]
    blurs_k_px: tuple[float, ...]
    reference_samples: int | None
    restore_scenes: int
    restore_blurs_k_px: tuple[float, ...]
    fusion_scenes: int
    fusion_size_hw: tuple[int, int]
    fusion_blur_k_px: float
    fusion_samples: int | None
    flicker_size_wh: tuple[int, int]
    flicker_frames: int


@dataclass(frozen=True)
class RealPlan:
    """Real captured focal stacks refocused frame to frame (`bench/real.py`).

    Attributes:
        side_px: the working size: frames are resized so their long side is this before fusion and scoring.
        fit_side_px: K is fitted on copies at most this long.
        max_stacks: the first this many stacks (by name) are measured; None = all.
        pairs: "ends" (first -> last, last -> first) or "ends+middle" (also middle -> first, middle -> last).
    """

    side_px: int
    fit_side_px: int
    max_stacks: int | None
    pairs: PairSet


@dataclass(frozen=True)
class PeersPlan:
    """Side by side with peers (`bench/peers.py`): fusion against align_image_stack + enfuse on the real stacks,
    and the layered renderer against a plain 32-layer FFT renderer.

    Attributes:
        render_size_wh, render_blur_k_px, render_runs: the timed renders of the motorcycle.
        fidelity_scenes, fidelity_size_hw, fidelity_blur_k_px: the scenes both renderers are scored on.
    """

    render_size_wh: tuple[int, int]
    render_blur_k_px: float
    render_runs: int
    fidelity_scenes: int
    fidelity_size_hw: tuple[int, int]
    fidelity_blur_k_px: float


@dataclass(frozen=True)
class BenchPlan:
    speed: SpeedPlan
    fidelity: FidelityPlan
    real: RealPlan
    peers: PeersPlan | None = None
    """None: the peers section is skipped with a note (a quick run)."""


FULL_PLAN = BenchPlan(
    speed=SpeedPlan(
        sizes_wh=((1920, 1080), (4000, 3000)),
        blurs_k_px=(8.0, 24.0),
        runs=5,
        budget_s=60.0,
        gather_limit_s=120.0,
        video_size_wh=(1280, 720),
        video_frames=48,
    ),
    # The same scenes as benchmarks/fidelity.py, restore.py and `fusion.py synthetic` with their defaults.
    fidelity=FidelityPlan(
        scenes=8,
        size_hw=(192, 256),
        blurs_k_px=(6.0, 12.0, 20.0),
        reference_samples=None,
        restore_scenes=8,
        restore_blurs_k_px=(12.0, 24.0),
        fusion_scenes=6,
        fusion_size_hw=(192, 256),
        fusion_blur_k_px=14.0,
        fusion_samples=128,
        flicker_size_wh=(160, 120),
        flicker_frames=40,
    ),
    real=RealPlan(side_px=1024, fit_side_px=512, max_stacks=None, pairs="ends+middle"),
    peers=PeersPlan(
        render_size_wh=(1920, 1080),
        render_blur_k_px=24.0,
        render_runs=3,
        fidelity_scenes=4,
        fidelity_size_hw=(192, 256),
        fidelity_blur_k_px=12.0,
    ),
)

QUICK_PLAN = BenchPlan(
    speed=SpeedPlan(
        sizes_wh=((640, 480),),
        blurs_k_px=(8.0, 24.0),
        runs=3,
        budget_s=5.0,
        gather_limit_s=20.0,
        video_size_wh=(320, 240),
        video_frames=16,
    ),
    fidelity=FidelityPlan(
        scenes=4,
        size_hw=(128, 160),
        blurs_k_px=(6.0, 12.0, 20.0),
        reference_samples=128,
        restore_scenes=4,
        restore_blurs_k_px=(24.0,),
        fusion_scenes=2,
        fusion_size_hw=(96, 128),
        fusion_blur_k_px=14.0,
        fusion_samples=64,
        flicker_size_wh=(160, 120),
        flicker_frames=24,
    ),
    real=RealPlan(side_px=384, fit_side_px=384, max_stacks=1, pairs="ends"),
)


def plan_for(quick: bool) -> BenchPlan:
    """The quick plan (CI: 2 cores, no GPU, about a minute) or the full one."""
    return QUICK_PLAN if quick else FULL_PLAN
