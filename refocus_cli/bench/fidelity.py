"""Renderer fidelity: the engines and the naive gather baseline against the exact reference renderer on fixed
seeded random layered scenes, PSNR and SSIM on sRGB-encoded images.

Scene `index` of seed `s` is `random_layered_scene` (or, for the harder set, `random_hard_scene`) drawn from a
generator seeded `s * 1000 + index`, focused on one of its layers drawn from the same generator, and the truth
is `render_reference` with the generator after that: the same scenes as `benchmarks/fidelity.py` (`--hard` for
the harder set) and `benchmarks/defocus.py`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from refocus_cli.bench.engines import BASELINE_NAME, GATHER, BenchEngine
from refocus_cli.bench.plan import FidelityPlan
from refocus_cli.bench.report import BenchRow, StepResult

if TYPE_CHECKING:
    import torch

    from refocus_cli.render.scenes import LayeredScene


@dataclass(frozen=True)
class SceneCase:
    """A scene, the focus put on one of its layers, and the exact render there ([1,3,H,W] linear light)."""

    scene: LayeredScene
    focus_disparity: float
    truth: torch.Tensor


def scene_case(
    seed: int,
    index: int,
    size_hw: tuple[int, int],
    blur_k_px: float,
    *,
    samples: int | None = None,
    hard: bool = False,
) -> SceneCase:
    """Scene `index` of `seed` at `size_hw`, focused on a random layer, rendered exactly with K = `blur_k_px`
    (`samples` aperture points; None = enough for sub-pixel spacing). `hard`: a `render.hard_scenes` scene
    (the calibrated harder set) instead of a `random_layered_scene`."""
    import torch

    from refocus_cli.render.hard_scenes import random_hard_scene
    from refocus_cli.render.reference import render_reference
    from refocus_cli.render.scenes import random_layered_scene

    generator = torch.Generator().manual_seed(seed * 1000 + index)
    scene = (random_hard_scene if hard else random_layered_scene)(size_hw, generator=generator)
    focus = scene.layers[int(torch.randint(0, len(scene.layers), (1,), generator=generator))].disparity
    truth = render_reference(scene, focus, blur_k_px, generator=generator, samples=samples)
    return SceneCase(scene, focus, truth)


def srgb_scores(rendered: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """(PSNR in dB, SSIM) of two [N,3,H,W] linear images, both sRGB-encoded first (values above 1 clip)."""
    from refocus_cli.colour import linear_to_srgb
    from refocus_cli.metrics import psnr, ssim

    encoded, reference = linear_to_srgb(rendered), linear_to_srgb(truth)
    return psnr(encoded, reference), ssim(encoded, reference)


def engine_scores(engine: BenchEngine, case: SceneCase, blur_k_px: float, device: str) -> tuple[float, float]:
    """(PSNR, SSIM) of one engine's render of the scene's pinhole image against the truth; it renders on
    `device`, the scores are taken on the CPU."""
    import torch

    target = torch.device(device)
    image = case.scene.pinhole_image().to(target)
    disparity = case.scene.disparity_map().to(target)
    with torch.no_grad():
        rendered = engine.render(image, disparity, case.focus_disparity, blur_k_px).cpu()
    return srgb_scores(rendered, case.truth)


def fidelity_step(
    plan: FidelityPlan, blur_k_px: float, engines: list[BenchEngine], device: str, seed: int, *, hard: bool = False
) -> StepResult:
    """PSNR and SSIM of every engine beside the gather's, means over `plan.scenes` scenes at one K; `hard`
    takes the harder scenes, and the notes add the plain 32-layer FFT renderer's PSNR (their calibration)."""
    from refocus_cli.bench.fft_layers import render_fft_layers
    from refocus_cli.lens import signed_coc_px

    scores: dict[str, list[tuple[float, float]]] = {engine.name: [] for engine in [*engines, GATHER]}
    fft_psnr = []
    for index in range(plan.scenes):
        case = scene_case(seed, index, plan.size_hw, blur_k_px, samples=plan.reference_samples, hard=hard)
        for engine in [*engines, GATHER]:
            scores[engine.name].append(engine_scores(engine, case, blur_k_px, device))
        if hard:
            coc = signed_coc_px(case.scene.disparity_map(), case.focus_disparity, blur_k_px)
            fft_psnr.append(srgb_scores(render_fft_layers(case.scene.pinhole_image(), coc), case.truth)[0])
    h, w = plan.size_hw
    case_text = f"K {blur_k_px:g}, {plan.scenes} {'hard ' if hard else ''}scenes {w}x{h}"
    samples = "exact" if plan.reference_samples is None else f"{plan.reference_samples} aperture samples"
    baseline = scores[GATHER.name]
    rows = []
    for engine in engines:
        ours = scores[engine.name]
        wins = sum(a[0] > b[0] for a, b in zip(ours, baseline, strict=True))
        note = f"mean; ahead of the baseline on {wins}/{len(ours)} scenes; reference: {samples}"
        if fft_psnr:
            note += f"; plain 32-layer FFT: {statistics.mean(fft_psnr):.2f} dB"
        for position, metric, unit in ((0, "PSNR", "dB"), (1, "SSIM", "")):
            rows.append(
                BenchRow(
                    engine.name,
                    case_text,
                    metric,
                    statistics.mean(s[position] for s in ours),
                    BASELINE_NAME,
                    statistics.mean(s[position] for s in baseline),
                    unit,
                    "higher",
                    note,
                )
            )
    return StepResult(tuple(rows))
