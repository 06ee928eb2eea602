"""Restore gain: refocusing a photo that already has defocus blur, from the photo itself (no restore, the
baseline) or from its restored all-in-focus estimate, scored against the exact image at the new focus.

For scene `index` of seed `s` (generator `s * 1000 + index`), a hard scene (`render.hard_scenes`: 5-9
overlapping layers, thin structures, fine textures, lights behind edges) and a pair of layers (A, B) with
|K (d_B - d_A)| >= 8 px are drawn; the photo is the exact render focused on A, the truth the exact render focused
on B. Two cases: (a) refocus to B, a layer the photo blurred: restore should bring it back; (b) refocus to A, the
photo's own focus: restore must not make it worse. Restore runs as the tool runs it (`auto`, the blur fitted from
the photo) and with the true blur given. The same scenes and draws as `benchmarks/restore.py --scenes-kind hard`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from refocus_cli.bench.plan import FidelityPlan
from refocus_cli.bench.report import BenchRow, StepResult

if TYPE_CHECKING:
    import torch

    from refocus_cli.render.scenes import LayeredScene

MIN_BLUR_PX = 8.0


def pick_pair(scene: LayeredScene, blur_k_px: float, generator: torch.Generator) -> tuple[int, int] | None:
    """A random (A, B) of layer indices with |K (d_B - d_A)| >= `MIN_BLUR_PX`; None when the scene has none."""
    import torch

    d = [layer.disparity for layer in scene.layers]
    pairs = [(a, b) for a in range(len(d)) for b in range(len(d)) if abs(blur_k_px * (d[b] - d[a])) >= MIN_BLUR_PX]
    if not pairs:
        return None
    return pairs[int(torch.randint(0, len(pairs), (1,), generator=generator))]


def refocus_psnr(
    image: torch.Tensor, disparity: torch.Tensor, focus_disparity: float, blur_k_px: float, truth: torch.Tensor
) -> float:
    """PSNR in dB (sRGB) of refocusing `image` [1,3,H,W] (linear) to `focus_disparity` with the layered renderer,
    against `truth` [1,3,H,W] (linear)."""
    from refocus_cli.colour import linear_to_srgb
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.metrics import psnr
    from refocus_cli.render.layered import render_layered

    rendered = render_layered(image, signed_coc_px(disparity, focus_disparity, blur_k_px))
    return psnr(linear_to_srgb(rendered), linear_to_srgb(truth))


def reference_with_own_seed(
    scene: LayeredScene, focus_disparity: float, blur_k_px: float, generator: torch.Generator, samples: int | None
) -> torch.Tensor:
    """`render_reference` with a generator seeded by a draw from `generator` ([1,3,H,W] linear), so that the draws
    after it do not depend on the number of aperture samples."""
    import torch

    from refocus_cli.render.reference import render_reference

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    own = torch.Generator().manual_seed(seed)
    return render_reference(scene, focus_disparity, blur_k_px, generator=own, samples=samples)


@dataclass(frozen=True)
class RestoreScores:
    """PSNR (dB) of refocusing without and with restore: (a) to the blurred layer B, (b) to the photo's focus A."""

    a_off: float
    a_on: float
    b_off: float
    b_on: float
    a_oracle: float
    b_oracle: float


def restore_scores(
    seed: int, index: int, size_hw: tuple[int, int], blur_k_px: float, samples: int | None
) -> RestoreScores | None:
    """The restore gain on one scene; None when it has no pair of layers `MIN_BLUR_PX` apart in blur."""
    import torch

    from refocus_cli.render.hard_scenes import random_hard_scene
    from refocus_cli.restore import PhotoDefocus, restore_all_in_focus

    generator = torch.Generator().manual_seed(seed * 1000 + index)
    scene = random_hard_scene(size_hw, generator=generator)
    pair = pick_pair(scene, blur_k_px, generator)
    if pair is None:
        return None
    d_a, d_b = scene.layers[pair[0]].disparity, scene.layers[pair[1]].disparity
    photo = reference_with_own_seed(scene, d_a, blur_k_px, generator, samples)
    truth_b = reference_with_own_seed(scene, d_b, blur_k_px, generator, samples)
    disparity = scene.disparity_map()
    restored = restore_all_in_focus(photo, disparity).all_in_focus
    oracle = restore_all_in_focus(photo, disparity, photo_defocus=PhotoDefocus.known(blur_k_px, d_a)).all_in_focus
    return RestoreScores(
        a_off=refocus_psnr(photo, disparity, d_b, blur_k_px, truth_b),
        a_on=refocus_psnr(restored, disparity, d_b, blur_k_px, truth_b),
        b_off=refocus_psnr(photo, disparity, d_a, blur_k_px, photo),
        b_on=refocus_psnr(restored, disparity, d_a, blur_k_px, photo),
        a_oracle=refocus_psnr(oracle, disparity, d_b, blur_k_px, truth_b),
        b_oracle=refocus_psnr(oracle, disparity, d_a, blur_k_px, photo),
    )


def restore_step(plan: FidelityPlan, blur_k_px: float, seed: int) -> StepResult:
    """Mean PSNR with restore beside without, in cases (a) and (b), over the scenes that have a pair."""
    found = [
        restore_scores(seed, i, plan.size_hw, blur_k_px, plan.reference_samples) for i in range(plan.restore_scenes)
    ]
    scores = [s for s in found if s is not None]
    h, w = plan.size_hw
    if not scores:
        note = f"restore, K {blur_k_px:g}: none of {plan.restore_scenes} scenes has two layers {MIN_BLUR_PX:g} px apart"
        return StepResult(notes=(note,))
    scenes = f"K {blur_k_px:g}, {len(scores)} scenes {w}x{h}"
    cases = (
        ("to a blurred layer", "a", f"refocused to a layer the photo blurred >= {MIN_BLUR_PX:g} px"),
        ("at the photo's focus", "b", "refocused to the photo's own focus: restore must not make it worse"),
    )
    rows = tuple(
        BenchRow(
            name,
            f"{scenes}: {case}",
            "PSNR",
            statistics.mean(getattr(s, f"{key}_{on}") for s in scores),
            "no restore",
            statistics.mean(getattr(s, f"{key}_off") for s in scores),
            "dB",
            "higher",
            f"mean; {why}; {how}",
        )
        for case, key, why in cases
        for name, on, how in (
            ("restore", "on", "the photo's blur fitted from it (auto)"),
            ("restore, true blur", "oracle", "the photo's true K and focus given"),
        )
    )
    return StepResult(rows)
