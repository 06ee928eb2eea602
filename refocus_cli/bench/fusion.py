"""Focus stacking fidelity: our fusion beside the plain per-pixel max-of-smoothed-|Laplacian| fusion on
synthetic captured stacks with exact truth (`refocus_cli.render.synthetic_stacks`), PSNR on sRGB against the true
all-in-focus image, an 8 px border left out (where frames lack coverage).

Stack `index` of seed `s`: a random layered scene with bright lights made at twice the frame size from a
generator seeded `s + index`, one frame focused on each layer: the same stacks as
`benchmarks/fusion.py synthetic`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from refocus_cli.bench.plan import FidelityPlan
from refocus_cli.bench.report import BenchRow, StepResult

if TYPE_CHECKING:
    import torch

    from refocus_cli.render.synthetic_stacks import SyntheticStack

BORDER_PX = 8


HARD_BREATHING = (0.005, 0.02)
"""Magnification change from the first frame to the last of a hard stack (focus breathing)."""
HARD_DRIFT_PX = 0.9
"""Largest shift of a hard stack's frame (sub-pixel drift)."""
HARD_FLICKER = 0.04
"""Largest exposure change of a hard stack's frame (flicker)."""
EDGE_BAND_PX = 3
"""Half width of the depth-edge band the edge PSNR is taken in (a band 6 px wide)."""


def synthetic_stack(
    seed: int, index: int, size_hw: tuple[int, int], blur_k_px: float, samples: int | None, *, hard: bool = False
) -> SyntheticStack:
    """Stack `index` of `seed`: frames of `size_hw` (the scene is made at twice that), K in frame pixels.

    `hard`: a `render.hard_scenes` scene (5-9 layers, so 5-9 frames) captured with focus breathing of 0.5-2%
    over the stack, sub-pixel drift and exposure flicker; otherwise a `random_layered_scene` with 0.2-0.4%
    of breathing a frame, shifts up to 1.5 px and 6% exposure changes.
    """
    import torch

    from refocus_cli.render.hard_scenes import random_hard_scene
    from refocus_cli.render.scenes import random_layered_scene
    from refocus_cli.render.synthetic_stacks import synthetic_focal_stack

    h, w = size_hw
    generator = torch.Generator().manual_seed(seed + index)
    if not hard:
        scene = random_layered_scene((2 * h, 2 * w), generator=generator, lights_per_layer=3)
        return synthetic_focal_stack(scene, blur_k_px, generator=generator, samples=samples)
    scene = random_hard_scene((2 * h, 2 * w), generator=generator, pixel_scale=2)
    return synthetic_focal_stack(
        scene,
        blur_k_px,
        generator=generator,
        breathing=HARD_BREATHING,
        max_shift_px=HARD_DRIFT_PX,
        max_gain_change=HARD_FLICKER,
        samples=samples,
    )


def true_alignment(stack: SyntheticStack) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The frames put back on the middle frame's grid with their true maps and gains (fusion alone, without
    the alignment's errors): frames [1,3,H,W] and coverages [1,1,H,W]."""
    import numpy as np

    from refocus_cli.fusion.align import warp_to_reference

    h, w = stack.frames.shape[-2:]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    frames, coverages = [], []
    for i, (scale, (sx, sy), gain) in enumerate(zip(stack.scales, stack.shifts_xy, stack.gains, strict=True)):
        to_frame = np.array([[scale, 0, cx * (1 - scale) + sx], [0, scale, cy * (1 - scale) + sy], [0, 0, 1]])
        frame, coverage = warp_to_reference(stack.frames[i : i + 1], to_frame)
        frames.append(frame / gain)
        coverages.append(coverage)
    return frames, coverages


def crop_border(image: torch.Tensor) -> torch.Tensor:
    """[...,H,W] without its `BORDER_PX` border."""
    return image[..., BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX]


@dataclass(frozen=True)
class FusionScores:
    """PSNR (dB, sRGB, border left out) of our fusion and the plain one, after our alignment and with the true
    one; the share of pixels whose depth from focus picks their layer's frame; the alignment method per frame."""

    ours_psnr: float
    plain_psnr: float
    ours_true_align: float
    plain_true_align: float
    depth_order: float
    methods: list[str]


def score_stack(stack: SyntheticStack, blur_k_px: float) -> FusionScores:
    """Fuse the stack both ways (after our alignment and with the true one) and score against its truth."""
    from refocus_cli.colour import linear_to_srgb
    from refocus_cli.fusion.fuse import align_and_balance, depth_from_focus, fuse_aligned, fuse_max_laplacian
    from refocus_cli.metrics import psnr
    from refocus_cli.render.synthetic_stacks import depth_order_accuracy

    def score(image: torch.Tensor) -> float:
        return psnr(crop_border(linear_to_srgb(image.clamp(0, 1))), truth)

    frames = [stack.frames[i : i + 1] for i in range(stack.frames.shape[0])]
    count = len(frames)
    aligned = align_and_balance(frames)
    ours, picks, fractional = fuse_aligned(aligned.frames, aligned.coverages)
    disparity = depth_from_focus(fractional, picks, count)
    plain = fuse_max_laplacian(aligned.frames, aligned.coverages)
    true_frames, true_coverages = true_alignment(stack)
    ours_true, _, _ = fuse_aligned(true_frames, true_coverages)
    plain_true = fuse_max_laplacian(true_frames, true_coverages)
    truth = crop_border(linear_to_srgb(stack.all_in_focus.clamp(0, 1)))
    return FusionScores(
        ours_psnr=score(ours),
        plain_psnr=score(plain),
        ours_true_align=score(ours_true),
        plain_true_align=score(plain_true),
        depth_order=depth_order_accuracy(disparity, stack, blur_k_px),
        methods=aligned.methods,
    )


def fusion_step(plan: FidelityPlan, seed: int) -> StepResult:
    """Mean fused-stack PSNR of ours beside the max-of-Laplacian fusion over `plan.fusion_scenes` stacks."""
    k = plan.fusion_blur_k_px
    scores = [
        score_stack(synthetic_stack(seed, i, plan.fusion_size_hw, k, plan.fusion_samples), k)
        for i in range(plan.fusion_scenes)
    ]
    h, w = plan.fusion_size_hw
    wins = sum(s.ours_psnr > s.plain_psnr for s in scores)
    row = BenchRow(
        "focus stacking",
        f"{len(scores)} stack{'s' if len(scores) > 1 else ''} {w}x{h}, K {k:g}",
        "PSNR",
        statistics.mean(s.ours_psnr for s in scores),
        "max-of-Laplacian",
        statistics.mean(s.plain_psnr for s in scores),
        "dB",
        "higher",
        f"mean over synthetic captured stacks, after our alignment; ahead on {wins}/{len(scores)}; depth order "
        f"right on {100 * statistics.mean(s.depth_order for s in scores):.1f}% of pixels",
    )
    return StepResult((row,))
