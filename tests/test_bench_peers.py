"""The peers section's pieces: the plain FFT renderer, the sharpness figure and the skip notes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from refocus_cli.aperture import aperture_kernel
from refocus_cli.bench import peers, peers_step
from refocus_cli.bench.fft_layers import fft_disc_blur, render_fft_layers
from refocus_cli.bench.sharpness import sharpness_score
from refocus_cli.filters import gaussian_blur


def disc_blur(stack: torch.Tensor, radius_px: float) -> torch.Tensor:
    kernel = aperture_kernel(radius_px)
    reach, channels = kernel.shape[-1] // 2, stack.shape[1]
    padded = F.pad(stack, (reach, reach, reach, reach))
    return F.conv2d(padded, kernel[None, None].expand(channels, 1, -1, -1), groups=channels)


def test_fft_blur_is_the_disc_convolution() -> None:
    stack = torch.rand(1, 4, 30, 41, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(fft_disc_blur(stack, 4.6), disc_blur(stack, 4.6), atol=1e-5)


def test_one_layer_at_one_depth_is_a_disc_blur() -> None:
    image = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    coc = torch.full((1, 1, 40, 48), -3.0)  # one depth: one layer, radius 3
    rendered = render_fft_layers(image, coc)
    blurred = disc_blur(torch.cat((image, torch.ones_like(coc)), dim=1), 3.0)
    expected = blurred[:, :3] / blurred[:, 3:]  # divided by the coverage gathered (less than 1 near the edges)
    assert torch.allclose(rendered, expected, atol=1e-5)
    assert not torch.allclose(rendered, image, atol=1e-2)


def test_nearer_layer_covers_the_farther_one() -> None:
    image = torch.zeros(1, 3, 32, 32)
    image[:, 0, :, :16], image[:, 1, :, 16:] = 1.0, 1.0
    coc = torch.where(torch.arange(32).view(1, 1, 1, 32) < 16, 6.0, 0.0).expand(1, 1, 32, 32)  # left half nearer
    rendered = render_fft_layers(image, coc)
    assert float(rendered[0, 0, 16, 18]) > 0.2  # the near red half's blur spills over the sharp green one
    assert float(rendered[0, 1, 16, 30]) > 0.99  # far from the edge the green half stays as it was


def test_sharpness_counts_tiles_as_sharp_as_the_sharpest_frame() -> None:
    generator = torch.Generator().manual_seed(2)
    shapes = F.interpolate(torch.rand(1, 3, 12, 16, generator=generator), size=(96, 128), mode="bicubic")
    sharp = (0.5 * shapes + 0.3 * torch.rand(1, 3, 96, 128, generator=generator) + 0.1).clamp(0, 1)
    left, right = sharp.clone(), sharp.clone()
    left[..., 64:] = gaussian_blur(sharp, 2.0)[..., 64:]  # frame 0 sharp on the left only
    right[..., :64] = gaussian_blur(sharp, 2.0)[..., :64]
    frames = [left, right]
    fused = sharpness_score(sharp, frames, align=False)
    assert fused.share >= 0.75 and fused.textured == fused.scored > 0  # all but tiles at the frames' seam
    one_frame = sharpness_score(left, frames, align=False)
    assert 0.3 < one_frame.share < 0.7  # sharp on its own half only
    assert sharpness_score(gaussian_blur(sharp, 2.0), frames, align=False).share == 0.0
    aligned = sharpness_score(sharp, frames)  # matched to the fused grid first: the same verdict within a tile or so
    assert aligned.share >= 0.5 and aligned.scored > 0


def test_sharpness_refuses_frames_of_another_size() -> None:
    with pytest.raises(ValueError, match="frames are"):
        sharpness_score(torch.rand(1, 3, 32, 32), [torch.rand(1, 3, 16, 16)])


def test_peers_absent_without_apt_gives_one_skip_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pcb-stack").mkdir()
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)  # no enfuse, no align_image_stack, no apt-get
    result = peers_step.fusion_peers_step(tmp_path)
    assert result.rows == () and len(result.notes) == 1
    assert result.notes[0].startswith("peers skipped:") and "enfuse" in result.notes[0]


def test_peers_absent_not_root_is_skipped_without_installing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(peers.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(peers.subprocess, "run", lambda *a, **k: pytest.fail("must not run apt-get"))
    note = peers.install_peers()
    assert note is not None and "needs root" in note


def test_no_stacks_is_a_note(tmp_path: Path) -> None:
    result = peers_step.fusion_peers_step(tmp_path)
    assert result.rows == () and "fusion skipped" in result.notes[0]


def test_process_cost_adds_times_and_keeps_the_larger_peak() -> None:
    total = peers.ProcessCost(1.0, 2.0, 100.0) + peers.ProcessCost(0.5, 1.0, 300.0)
    assert total == peers.ProcessCost(1.5, 3.0, 300.0)
