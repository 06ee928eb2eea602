"""Real photos: a captured focal stack's frame i refocused onto frame j's focus, scored against the real frame j.

Per stack (`real_stacks` holds the conventions: working size, alignment, frame disparities, the K rule and the
regions): fuse, fit K once, then for each pair (i -> j) the photo is aligned frame i, the depth the fused depth
from focus, the new focus d_j, the blur K; PSNR and SSIM (8-bit sRGB) against aligned frame j, separately in the
sharpen and blur-add regions. What is scored:

- "input as is": frame i unchanged (the baseline of the physics, learned and oracle rows);
- "physics": the physics engine's render of the photo, no restore (the baseline of the restore rows);
- "physics + restore, blur known": restore with the photo's blur known from the stack (K, d_i), then render;
- "physics + restore, blur fitted": restore fitting the photo's blur from the photo (the tool's own path);
- "learned": the learned engine on the photo, when a checkpoint is found;
- "oracle": the fused all-in-focus image rendered to d_j (what a perfect restore could reach).

Everything runs on the CPU except the learned engine, which renders on the bench's device.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.bench.plan import PairSet, RealPlan
from refocus_cli.bench.real_stacks import (
    BlurFit,
    PreparedStack,
    Regions,
    StackFiles,
    find_stacks,
    fit_stack_blur,
    prepare_stack,
    region_masks,
    region_scores,
)
from refocus_cli.bench.report import BenchRow, StepResult

if TYPE_CHECKING:
    import torch

    from refocus_cli.bench.engines import BenchEngine

INPUT = "input as is"
PHYSICS = "physics"
RESTORE_KNOWN = "physics + restore, blur known"
RESTORE_FITTED = "physics + restore, blur fitted"
LEARNED = "learned"
ORACLE = "oracle: all-in-focus rendered"
ROWS = (INPUT, PHYSICS, RESTORE_KNOWN, RESTORE_FITTED, LEARNED, ORACLE)
BASELINE_OF = {
    PHYSICS: INPUT,
    RESTORE_KNOWN: PHYSICS,
    RESTORE_FITTED: PHYSICS,
    LEARNED: INPUT,
    ORACLE: INPUT,
}
REGIONS = ("sharpen", "blur-add")
ImagesHook = Callable[[tuple[int, int], dict[str, "torch.Tensor"], Regions], None]
METRICS = ("PSNR", "SSIM")


def pairs_of(count: int, pairs: PairSet) -> list[tuple[int, int]]:
    """(i, j) pairs: first -> last and last -> first, then with "ends+middle" middle -> first and middle -> last.

    >>> pairs_of(7, "ends+middle")
    [(0, 6), (6, 0), (3, 0), (3, 6)]
    """
    last, middle = count - 1, count // 2
    ends = [(0, last), (last, 0)]
    return ends if pairs == "ends" else [*ends, (middle, 0), (middle, last)]


@dataclass(frozen=True)
class PairScores:
    """One pair's scores: `scores[row][region]` = (PSNR dB, SSIM); each region's share of pixels; the restore
    calls' seconds; the photo blur (K0, d0) the fitted restore found."""

    pair: tuple[int, int]
    scores: dict[str, dict[str, tuple[float, float]]]
    shares: tuple[float, float]
    restore_s: list[float]
    fitted_blur: tuple[float, float]


def refocused_images(
    stack: PreparedStack, pair: tuple[int, int], k_px: float, engines: list[BenchEngine]
) -> tuple[dict[str, torch.Tensor], list[float], tuple[float, float]]:
    """Every row's image for pair (i -> j), [1,3,H,W] linear light; the restore calls' seconds; the fitted
    (K0, d0)."""
    from refocus_cli.bench.engines import PHYSICS as PHYSICS_ENGINE
    from refocus_cli.restore import PhotoDefocus, restore_all_in_focus

    i, j = pair
    photo, depth = stack.frames[i], stack.disparity
    d_i, d_j = stack.focus_disparities[i], stack.focus_disparities[j]

    def physics(image: torch.Tensor) -> torch.Tensor:
        return PHYSICS_ENGINE.render(image, depth, d_j, k_px)

    seconds = []
    clock = time.perf_counter()
    known = restore_all_in_focus(photo, depth, photo_defocus=PhotoDefocus.known(k_px, d_i), mode="always")
    seconds.append(time.perf_counter() - clock)
    clock = time.perf_counter()
    fitted = restore_all_in_focus(photo, depth, mode="always")
    seconds.append(time.perf_counter() - clock)
    images = {
        INPUT: photo,
        PHYSICS: physics(photo),
        RESTORE_KNOWN: physics(known.all_in_focus),
        RESTORE_FITTED: physics(fitted.all_in_focus),
        ORACLE: physics(stack.all_in_focus),
    }
    for engine in engines:
        if engine.name == LEARNED:
            images[LEARNED] = engine.render(photo, depth, d_j, k_px)
    blur = (fitted.photo_defocus.k0_px, fitted.photo_defocus.focus_disparity)
    return images, seconds, blur


def score_pair(
    stack: PreparedStack,
    pair: tuple[int, int],
    k_px: float,
    engines: list[BenchEngine],
    keep: ImagesHook | None = None,
) -> PairScores:
    """Refocus frame i to frame j's focus every way and score each against the real frame j, per region;
    `keep(pair, images, regions)` is handed the images (a picture is made from them)."""
    i, j = pair
    target = stack.frames[j]
    regions = region_masks(stack.frames[i], target)
    images, seconds, blur = refocused_images(stack, pair, k_px, engines)
    if keep is not None:
        keep(pair, images, regions)
    masks = {"sharpen": regions.sharpen, "blur-add": regions.blur_add}
    scores = {
        row: {region: region_scores(image, target, mask) for region, mask in masks.items()}
        for row, image in images.items()
    }
    return PairScores(pair, scores, regions.shares(), seconds, blur)


@dataclass(frozen=True)
class StackScores:
    """A stack's K fit and its pairs' scores."""

    name: str
    size_wh: tuple[int, int]
    blur: BlurFit
    pairs: list[PairScores]

    def mean(self, row: str, region: str, metric: str) -> float:
        """The mean over pairs (those with pixels in the region); nan when none has the row or the region."""
        index = METRICS.index(metric)
        values = [p.scores[row][region][index] for p in self.pairs if row in p.scores]
        return mean_finite(values)


def mean_finite(values: list[float]) -> float:
    """The mean of the finite values; nan when there are none.

    >>> mean_finite([1.0, float("nan"), 3.0]), math.isnan(mean_finite([]))
    (2.0, True)
    """
    finite = [v for v in values if math.isfinite(v)]
    return statistics.mean(finite) if finite else math.nan


def score_stack(
    stack: PreparedStack,
    plan: RealPlan,
    engines: list[BenchEngine],
    blur: BlurFit | None = None,
    keep: ImagesHook | None = None,
) -> StackScores:
    """Fit K (unless given) and score every pair of `plan.pairs` (`keep` as in `score_pair`)."""
    blur = blur or fit_stack_blur(stack, plan.fit_side_px)
    pairs = [score_pair(stack, pair, blur.k_px, engines, keep) for pair in pairs_of(len(stack.frames), plan.pairs)]
    return StackScores(stack.name, stack.size_wh, blur, pairs)


def rows_for(case: str, mean: dict[tuple[str, str, str], float], note: str) -> list[BenchRow]:
    """BenchRows of one scope (a stack, or the mean of stacks): every row but the input, per region and metric,
    beside its baseline (`BASELINE_OF`); `mean[(row, region, metric)]`. A figure that is not finite (a region
    with no pixels in any pair) makes no row: the notes give each region's share."""
    rows = []
    for region in REGIONS:
        for row in ROWS[1:]:
            for metric in METRICS:
                value, baseline = mean.get((row, region, metric), math.nan), BASELINE_OF[row]
                baseline_value = mean.get((baseline, region, metric), math.nan)
                if not (math.isfinite(value) and math.isfinite(baseline_value)):
                    continue  # no pixels in the region, or no such row
                rows.append(
                    BenchRow(
                        row,
                        f"{case}: {region}",
                        metric,
                        value,
                        baseline,
                        baseline_value,
                        "dB" if metric == "PSNR" else "",
                        "higher",
                        note,
                    )
                )
    return rows


def stack_means(stack: StackScores) -> dict[tuple[str, str, str], float]:
    rows = {row for pair in stack.pairs for row in pair.scores}
    return {(r, g, m): stack.mean(r, g, m) for r in ROWS if r in rows for g in REGIONS for m in METRICS}


def stack_notes(stack: StackScores, prepared: PreparedStack) -> list[str]:
    """What a reader needs to trust a stack's rows: size, alignment, K and the restore's time and fit."""
    w, h = stack.size_wh
    restore = [s for p in stack.pairs for s in p.restore_s]
    per_mp = statistics.median(restore) / (w * h / 1e6)
    shares = ", ".join(
        f"{i}->{j} {100 * a:.0f}%/{100 * b:.0f}%" for (i, j), (a, b) in ((p.pair, p.shares) for p in stack.pairs)
    )
    fitted = ", ".join(
        f"{p.pair[0]}->{p.pair[1]} K0 {p.fitted_blur[0]:.1f} d0 {p.fitted_blur[1]:.2f}" for p in stack.pairs
    )
    d = prepared.focus_disparities
    return [
        f"real {stack.name}: {len(prepared.frames)} frames {prepared.source_wh[0]}x{prepared.source_wh[1]} scored at "
        f"{w}x{h} (long side resized, aligned by the fusion: {prepared.border_px} px border cropped); "
        f"K {stack.blur.k_px:.2f} px fitted on frame {stack.blur.frame} (d {d[stack.blur.frame]:.2f})",
        f"real {stack.name}: sharpen/blur-add share of pixels per pair: {shares}",
        f"real {stack.name}: restore median {statistics.median(restore):.1f} s a call ({per_mp:.1f} s/MP); "
        f"fitted photo blur: {fitted} (known: K {stack.blur.k_px:.1f}, d0 = d_i)",
    ]


@dataclass
class RealSection:
    """The real section's steps: one per stack, then the mean over stacks (which reads what they measured)."""

    plan: RealPlan
    data_dir: Path
    engines: list[BenchEngine]
    measured: list[StackScores] = field(default_factory=list)

    def stacks(self) -> list[StackFiles]:
        found = find_stacks(self.data_dir)
        return found if self.plan.max_stacks is None else found[: self.plan.max_stacks]

    def skip_note(self) -> str:
        return (
            f"real photos: no focal stacks under {self.data_dir} (pass --data DIR: a folder of stack folders of "
            f"numbered frames); the section is skipped"
        )

    def stack_step(self, files: StackFiles) -> StepResult:
        prepared = prepare_stack(files, self.plan.side_px)
        scores = score_stack(prepared, self.plan, self.engines)
        self.measured.append(scores)
        w, h = scores.size_wh
        case = f"{scores.name} {w}x{h}, {len(scores.pairs)} pairs"
        note = f"mean over pairs {', '.join(f'{i}->{j}' for i, j in (p.pair for p in scores.pairs))}"
        return StepResult(tuple(rows_for(case, stack_means(scores), note)), tuple(stack_notes(scores, prepared)))

    def mean_step(self) -> StepResult:
        if len(self.measured) < 2:
            return StepResult()
        keys = set.intersection(*(set(stack_means(s)) for s in self.measured))
        means = {key: mean_finite([stack_means(s)[key] for s in self.measured]) for key in keys}
        case = f"mean of {len(self.measured)} stacks"
        return StepResult(tuple(rows_for(case, means, "mean of the stacks' means")))
