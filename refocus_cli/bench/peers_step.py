"""`refocus bench`'s peers section: the rows of `bench/peers.py`'s side-by-side runs, or one-line notes on why
a part was skipped (no stacks, no peer tools, a quick run)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from refocus_cli.bench.peers import STACKS, FusionSideBySide, fuse_both, install_peers, renderer_psnr, time_renderers
from refocus_cli.bench.plan import PeersPlan
from refocus_cli.bench.report import BenchRow, StepResult

PEERS_NAME = "align_image_stack + enfuse"
FFT_NAME = "plain 32-layer FFT"


def fusion_rows(result: FusionSideBySide) -> tuple[BenchRow, ...]:
    """CPU time, wall time, peak memory and the sharpness figure of ours beside the peers'."""
    w, h = result.size_wh
    case = f"{result.stack}, {result.frames} frames {w}x{h}"
    note = "whole processes, wait4 rusage; one run each"
    figures = (
        ("CPU time", result.ours.cpu_s, result.peers.cpu_s, "s", "lower"),
        ("wall time", result.ours.wall_s, result.peers.wall_s, "s", "lower"),
        ("peak memory", result.ours.peak_mb, result.peers.peak_mb, "MB", "lower"),
        ("sharp tiles", result.ours_sharp, result.peers_sharp, "", "higher"),
    )
    return tuple(
        BenchRow("focus stacking", case, metric, ours, PEERS_NAME, peers, unit, better, note)  # type: ignore[arg-type]
        for metric, ours, peers, unit, better in figures
    )


def fusion_peers_step(data_dir: Path) -> StepResult:
    """Both fusions on each stack of `STACKS` found under `data_dir`; notes for what is skipped."""
    folders = [data_dir / name for name in STACKS if (data_dir / name).is_dir()]
    if not folders:
        return StepResult(notes=(f"peers: fusion skipped, no {' or '.join(STACKS)} under {data_dir}",))
    problem = install_peers()
    if problem is not None:
        return StepResult(notes=(problem,))
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="refocus-peers-") as tmp:
        for folder in folders:
            rows += fusion_rows(fuse_both(folder, Path(tmp)))
    return StepResult(tuple(rows))


def renderer_peers_step(plan: PeersPlan, seed: int) -> StepResult:
    """The layered renderer's time and PSNR beside the plain FFT renderer's."""
    width, height = plan.render_size_wh
    timed = time_renderers(width, height, plan.render_blur_k_px, plan.render_runs)
    ours_psnr, fft_psnr = renderer_psnr(plan.fidelity_scenes, plan.fidelity_size_hw, plan.fidelity_blur_k_px, seed)
    h, w = plan.fidelity_size_hw
    return StepResult(
        (
            BenchRow(
                "physics",
                f"{width}x{height}, K {plan.render_blur_k_px:g}",
                "median time",
                timed.layered_s,
                FFT_NAME,
                timed.fft_s,
                "s",
                "lower",
                f"in one process, alternating, {timed.runs} runs each after a warm-up",
            ),
            BenchRow(
                "physics",
                f"K {plan.fidelity_blur_k_px:g}, {plan.fidelity_scenes} scenes {w}x{h}",
                "PSNR",
                ours_psnr,
                FFT_NAME,
                fft_psnr,
                "dB",
                "higher",
                "mean against the exact reference",
            ),
        )
    )
