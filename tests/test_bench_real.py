"""The real-photo bench section: its regions and masked scores on frames with known truth, the K rule on a
synthetic captured stack, where stacks are found, the skip note without data, and one tiny run on the shared
real stacks (skipped where they are absent, as on CI)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from refocus_cli.bench import real_stacks
from refocus_cli.bench.plan import RealPlan
from refocus_cli.bench.real import ORACLE, PHYSICS, RESTORE_FITTED, RESTORE_KNOWN, RealSection, pairs_of
from refocus_cli.bench.real_stacks import (
    DEFAULT_DATA_DIR,
    find_stacks,
    fit_blur_k,
    fit_frame,
    region_masks,
    region_scores,
)
from refocus_cli.bench.report import BenchRequest
from refocus_cli.bench.run import run_bench
from refocus_cli.filters import gaussian_blur
from refocus_cli.metrics import masked_psnr, masked_ssim


def texture(h: int = 96, w: int = 128, seed: int = 0) -> torch.Tensor:
    """[1,3,H,W] linear light: seeded noise with detail at every scale."""
    g = torch.Generator().manual_seed(seed)
    fine = torch.rand(1, 3, h, w, generator=g)
    coarse = gaussian_blur(torch.rand(1, 3, h, w, generator=g), 3.0)
    return (0.15 + 0.5 * fine * coarse.clamp(0.2, 1.0)).clamp(0, 1)


def half_blurred(sharp: torch.Tensor, blurred_side: str) -> torch.Tensor:
    """`sharp` with its left or right half replaced by a Gaussian-blurred copy (sigma 3)."""
    soft = gaussian_blur(sharp, 3.0)
    out = sharp.clone()
    w = sharp.shape[-1]
    half = slice(0, w // 2) if blurred_side == "left" else slice(w // 2, w)
    out[..., half] = soft[..., half]
    return out


def test_regions_follow_where_each_frame_is_sharp() -> None:
    sharp = texture()
    photo, target = half_blurred(sharp, "right"), half_blurred(sharp, "left")  # photo sharp left, target right
    regions = region_masks(photo, target)
    w = sharp.shape[-1]
    left, right = slice(8, w // 2 - 8), slice(w // 2 + 8, w - 8)  # away from the seam
    sharpen, blur_add = regions.sharpen[0, 0], regions.blur_add[0, 0]
    assert float(sharpen[:, right].float().mean()) > 0.8  # the target is sharp where the photo is blurred
    assert float(blur_add[:, left].float().mean()) > 0.8
    assert not bool(sharpen[:, left].any()) and not bool(blur_add[:, right].any())
    assert not bool((sharpen & blur_add).any())
    same = region_masks(sharp, sharp)  # nothing is clearly sharper in either
    assert not bool(same.sharpen.any()) and not bool(same.blur_add.any())


def test_regions_leave_out_flat_pixels() -> None:
    sharp = texture()
    sharp[..., :, : sharp.shape[-1] // 2] = 0.3  # the left half flat
    regions = region_masks(half_blurred(sharp, "right"), sharp)
    assert not bool(regions.sharpen[..., 8:-8, 8 : sharp.shape[-1] // 2 - 8].any())
    assert bool(regions.sharpen[..., sharp.shape[-1] // 2 + 8 :].any())


def test_masked_scores_count_only_the_mask() -> None:
    target = torch.full((1, 3, 32, 32), 0.5)
    image = target.clone()
    image[..., :, 16:] += 0.1  # wrong on the right half only
    left = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    left[..., :, :16] = True
    assert math.isinf(masked_psnr(image, target, left))
    assert masked_psnr(image, target, ~left) == pytest.approx(20.0)
    assert math.isnan(masked_psnr(image, target, torch.zeros_like(left)))
    assert masked_ssim(image, target, left) < 1.0  # windows straddling the step see it ...
    inner = torch.zeros_like(left)
    inner[..., :, :8] = True
    assert masked_ssim(image, target, inner) == pytest.approx(1.0)  # ... those wholly on the left do not
    psnr, ssim = region_scores(texture(), texture(), torch.ones_like(left[..., :1, :1]).expand(1, 1, 96, 128))
    assert math.isinf(psnr) and ssim == pytest.approx(1.0)


def test_blur_fit_recovers_k_of_a_synthetic_stack() -> None:
    from refocus_cli.bench.fusion import synthetic_stack, true_alignment

    k_px = 12.0
    stack = synthetic_stack(seed=3, index=0, size_hw=(48, 64), blur_k_px=k_px, samples=24)
    frames, _ = true_alignment(stack)
    a = fit_frame(stack.disparity, stack.focus_disparities)
    assert a in (0, len(frames) - 1)
    fitted, tried = fit_blur_k(stack.all_in_focus, stack.disparity, frames[a], stack.focus_disparities[a], 64)
    assert fitted == pytest.approx(k_px, rel=0.1), tried
    assert tried[fitted] == max(tried.values())


def test_fit_frame_is_the_end_farthest_from_the_median_depth() -> None:
    assert fit_frame(torch.full((1, 1, 4, 4), 0.8), [1.0, 0.5, 0.0]) == 2
    assert fit_frame(torch.full((1, 1, 4, 4), 0.2), [1.0, 0.5, 0.0]) == 0


def write_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    for name in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / name)


def test_stacks_are_folders_of_numbered_frames(tmp_path: Path) -> None:
    write_frames(tmp_path / "b-stack", ["f10.jpg", "f9.jpg", "f11.jpg", "expected.jpg"])
    write_frames(tmp_path / "a-stack", ["x1.png", "x2.png", "x3.png"])
    write_frames(tmp_path / "too-short", ["y1.png", "y2.png"])
    stacks = find_stacks(tmp_path)
    assert [s.name for s in stacks] == ["a-stack", "b-stack"]
    assert [p.name for p in stacks[1].paths] == ["f9.jpg", "f10.jpg", "f11.jpg"]
    assert [s.name for s in find_stacks(tmp_path / "b-stack")] == ["b-stack"]  # a stack folder itself
    assert find_stacks(tmp_path / "absent") == [] and find_stacks(tmp_path / "too-short") == []
    assert pairs_of(9, "ends") == [(0, 8), (8, 0)]


def test_real_section_is_skipped_with_a_note_without_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real_stacks, "DEFAULT_DATA_DIR", tmp_path / "absent")
    for data in (None, str(tmp_path)):  # the default folder absent; a folder with no stacks
        report = run_bench(BenchRequest(quick=True, device="cpu", sections=("real",), data=data))
        section = report.section("real")
        assert section is not None and section.rows == ()
        assert len(section.notes) == 1 and "skipped" in section.notes[0]


def test_cli_names_the_real_section_and_its_data_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from refocus_cli.cli import app

    result = CliRunner().invoke(
        app, ["bench", "--quick", "--json", "--device", "cpu", "--sections", "real", "--data", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "the section is skipped" in result.stdout and '"real"' in result.stdout


@pytest.mark.skipif(
    not find_stacks(DEFAULT_DATA_DIR), reason=f"no real focal stacks under {DEFAULT_DATA_DIR} (CI has no shared data)"
)
def test_real_stack_tiny_run_scores_every_row() -> None:
    section = RealSection(RealPlan(side_px=128, fit_side_px=128, max_stacks=1, pairs="ends"), DEFAULT_DATA_DIR, [])
    (files,) = section.stacks()
    result = section.stack_step(files)
    rows = {(row.name, row.case.rsplit(": ", 1)[1], row.metric): row for row in result.rows}
    names = {name for name, _, _ in rows}
    assert names == {PHYSICS, RESTORE_KNOWN, RESTORE_FITTED, ORACLE}  # no learned engine was passed
    for (name, _, _), row in rows.items():
        assert row.baseline_value is not None and math.isfinite(row.value), name
    # Adding blur where the target is blurred: the physics render beats leaving the photo as it is.
    physics_blur_add = rows[(PHYSICS, "blur-add", "PSNR")]
    assert physics_blur_add.baseline_value is not None and physics_blur_add.value > physics_blur_add.baseline_value
    assert any("K " in note and "fitted on frame" in note for note in result.notes)
