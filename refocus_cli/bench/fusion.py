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
HARD_THIN_SHARE = 0.25
"""Share of a hard stack's foreground layers that carry thin structures: calibrated so the plain
max-of-Laplacian fusion lands near 35 dB (README, "Focus stacking"), where every layer carrying them puts it
near 33 dB, below what real stacks give it."""
EDGE_BAND_PX = 3
"""Half width of the depth-edge band the edge PSNR is taken in (a band 6 px wide)."""


def synthetic_stack(
    seed: int, index: int, size_hw: tuple[int, int], blur_k_px: float, samples: int | None, *, hard: bool = False
) -> SyntheticStack:
    """Stack `index` of `seed`: frames of `size_hw` (the scene is made at twice that), K in frame pixels.

    `hard`: a `render.hard_scenes` scene (5-9 layers, so 5-9 frames; `HARD_THIN_SHARE` of them with thin
    structures) captured with focus breathing of 0.5-2% over the stack, sub-pixel drift and exposure flicker;
    otherwise a `random_layered_scene` with 0.2-0.4% of breathing a frame, shifts up to 1.5 px and 6% exposure
    changes.
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
    scene = random_hard_scene((2 * h, 2 * w), generator=generator, pixel_scale=2, thin_share=HARD_THIN_SHARE)
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
class RegionPsnr:
    """PSNR (dB, sRGB, border left out) over the whole frame, in the depth-edge band, and away from it."""

    whole: float
    band: float
    away: float


@dataclass(frozen=True)
class FusionScores:
    """One stack's scores: our fusion, ours without the occlusion-aware picks, the plain max-of-Laplacian
    fusion and enfuse (None when it is absent), all after our alignment; ours and the plain one with the true
    alignment (fusion alone); the depth from focus's order away from and near depth edges; alignment methods."""

    ours: RegionPsnr
    ours_contrast_picks: RegionPsnr
    plain: RegionPsnr
    enfuse: RegionPsnr | None
    ours_true_align: RegionPsnr
    plain_true_align: RegionPsnr
    depth_order: float
    depth_order_edges: float
    methods: list[str]

    @property
    def ours_psnr(self) -> float:
        return self.ours.whole

    @property
    def plain_psnr(self) -> float:
        return self.plain.whole


def enfuse_frames(frames: list[torch.Tensor]) -> torch.Tensor | None:
    """enfuse (`bench.peers.ENFUSE_OPTIONS`) of aligned frames [1,3,H,W] linear, given to it as 16-bit sRGB
    TIFFs; the fused image [1,3,H,W] linear, or None when enfuse is not installed or fails."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from refocus_cli.bench.peers import ENFUSE_OPTIONS
    from refocus_cli.io.image_writer import encode_srgb, tiff_bytes
    from refocus_cli.io.images import read_image

    if shutil.which("enfuse") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, frame in enumerate(frames):
            path = Path(tmp) / f"frame_{i:02d}.tif"
            path.write_bytes(tiff_bytes(encode_srgb(frame.float(), 16)))
            paths.append(str(path))
        out = Path(tmp) / "fused.tif"
        done = subprocess.run(["enfuse", *ENFUSE_OPTIONS, f"--output={out}", *paths], capture_output=True, check=False)
        return read_image(out).linear.float() if done.returncode == 0 and out.exists() else None


def score_stack(stack: SyntheticStack, blur_k_px: float, *, with_enfuse: bool = True) -> FusionScores:
    """Fuse the stack every way (after our alignment, and with the true one) and score against its truth."""
    from refocus_cli.colour import linear_to_srgb
    from refocus_cli.fusion.fuse import align_and_balance, depth_from_focus, fuse_aligned, fuse_max_laplacian
    from refocus_cli.metrics import masked_psnr, psnr
    from refocus_cli.render.synthetic_stacks import depth_edge_band, depth_order_accuracy

    truth = crop_border(linear_to_srgb(stack.all_in_focus.clamp(0, 1)))
    band = crop_border(depth_edge_band(stack.disparity, blur_k_px, EDGE_BAND_PX))

    def score(image: torch.Tensor) -> RegionPsnr:
        encoded = crop_border(linear_to_srgb(image.clamp(0, 1)))
        return RegionPsnr(psnr(encoded, truth), masked_psnr(encoded, truth, band), masked_psnr(encoded, truth, ~band))

    frames = [stack.frames[i : i + 1] for i in range(stack.frames.shape[0])]
    count = len(frames)
    aligned = align_and_balance(frames)
    ours, picks, fractional = fuse_aligned(aligned.frames, aligned.coverages)
    disparity = depth_from_focus(fractional, picks, count)
    contrast_picks, _, _ = fuse_aligned(aligned.frames, aligned.coverages, occlusion_aware=False)
    enfused = enfuse_frames(aligned.frames) if with_enfuse else None
    true_frames, true_coverages = true_alignment(stack)
    ours_true, _, _ = fuse_aligned(true_frames, true_coverages)
    return FusionScores(
        ours=score(ours),
        ours_contrast_picks=score(contrast_picks),
        plain=score(fuse_max_laplacian(aligned.frames, aligned.coverages)),
        enfuse=None if enfused is None else score(enfused),
        ours_true_align=score(ours_true),
        plain_true_align=score(fuse_max_laplacian(true_frames, true_coverages)),
        depth_order=depth_order_accuracy(disparity, stack, blur_k_px),
        depth_order_edges=depth_order_accuracy(disparity, stack, blur_k_px, near_edges=True),
        methods=aligned.methods,
    )


def fusion_step(plan: FidelityPlan, seed: int) -> StepResult:
    """Mean fused-stack PSNR of ours beside the max-of-Laplacian fusion over `plan.fusion_scenes` hard stacks,
    over the whole frame and in the depth-edge band."""
    k = plan.fusion_blur_k_px
    scores = [
        score_stack(synthetic_stack(seed, i, plan.fusion_size_hw, k, plan.fusion_samples, hard=True), k)
        for i in range(plan.fusion_scenes)
    ]
    h, w = plan.fusion_size_hw
    wins = sum(s.ours.whole > s.plain.whole for s in scores)
    case = f"{len(scores)} hard stack{'s' if len(scores) > 1 else ''} {w}x{h}, K {k:g}"
    order = 100 * statistics.mean(s.depth_order_edges for s in scores)
    regions = (
        ("whole", "PSNR", f"mean over synthetic captured stacks, after our alignment; ahead on {wins}/{len(scores)}"),
        (
            "band",
            f"PSNR, {2 * EDGE_BAND_PX} px depth-edge band",
            f"mean; depth from focus in the right order on {order:.1f}% of pixels within 4 px of an edge",
        ),
    )
    rows = []
    for region, label, note in regions:
        ours = statistics.mean(getattr(s.ours, region) for s in scores)
        plain = statistics.mean(getattr(s.plain, region) for s in scores)
        rows.append(BenchRow("focus stacking", case, label, ours, "max-of-Laplacian", plain, "dB", "higher", note))
    return StepResult(tuple(rows))
