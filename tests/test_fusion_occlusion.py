"""Occlusion-aware fusion (`fusion/occlusion.py`): relative blurs fitted on the stack, picks at depth edges
decided by depth consistency, and the fused image's exposure; on hard synthetic stacks with exact truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from refocus_cli.bench.fusion import true_alignment
from refocus_cli.colour import linear_to_srgb
from refocus_cli.fusion.fuse import fuse_aligned
from refocus_cli.fusion.occlusion import _working_greys, blur_positions, edge_consistent_picks, gaussian
from refocus_cli.render.hard_scenes import random_hard_scene
from refocus_cli.render.synthetic_stacks import SyntheticStack, depth_edge_band, synthetic_focal_stack

K_PX = 14.0


def _hard_stack(seed: int) -> SyntheticStack:
    generator = torch.Generator().manual_seed(seed)
    scene = random_hard_scene((192, 256), generator=generator, pixel_scale=2, max_layers=6)
    return synthetic_focal_stack(
        scene, K_PX, generator=generator, samples=32, breathing=(0.005, 0.02), max_shift_px=0.9, max_gain_change=0.04
    )


@pytest.fixture(scope="module")
def stacks() -> list[SyntheticStack]:
    return [_hard_stack(seed) for seed in (1, 3)]


def _psnr(image: torch.Tensor, truth: torch.Tensor, where: torch.Tensor | None = None) -> float:
    error = (linear_to_srgb(image.clamp(0, 1)) - linear_to_srgb(truth.clamp(0, 1))).square().mean(dim=1)
    error = error[..., 8:-8, 8:-8]
    mse = error.mean() if where is None else error[where[:, 0, 8:-8, 8:-8]].mean()
    return float(-10 * torch.log10(mse))


def test_depth_edges_fuse_closer_to_the_truth_with_consistent_picks(stacks: list[SyntheticStack]) -> None:
    """In the band of 3 px around depth edges, deciding the side by depth consistency beats local contrast by at
    least 0.2 dB on each stack (measured 0.24 and 0.38 dB), without losing anything over the whole frame."""
    for stack in stacks:
        frames, coverages = true_alignment(stack)
        band = depth_edge_band(stack.disparity, K_PX, 3)
        contrast, _, _ = fuse_aligned(frames, coverages, occlusion_aware=False)
        consistent, _, _ = fuse_aligned(frames, coverages)
        truth = stack.all_in_focus
        assert _psnr(consistent, truth, band) >= _psnr(contrast, truth, band) + 0.2
        assert _psnr(consistent, truth) >= _psnr(contrast, truth)


def test_relative_blurs_fitted_on_the_stack_follow_the_thin_lens(stacks: list[SyntheticStack]) -> None:
    """Each neighbour step's Gaussian sigma is a steady share of the true disc radius K * |d_i - d_(i+1)|
    (measured 0.49-0.70: a Gaussian that matches a disc has sigma about 0.6 r)."""
    for stack in stacks:
        frames, coverages = true_alignment(stack)
        _, picks, _ = fuse_aligned(frames, coverages, occlusion_aware=False)
        greys, small_picks, factor = _working_greys(frames, picks)
        positions = [s * factor for s in blur_positions(greys, small_picks)]
        focus = stack.focus_disparities
        for i in range(len(focus) - 1):
            radius = K_PX * abs(focus[i] - focus[i + 1])
            assert 0.4 * radius <= positions[i + 1] - positions[i] <= 0.8 * radius


def test_neighbouring_frames_keep_their_contrast_picks() -> None:
    """Two frames one step apart look alike at an edge (a slope in depth gives the same picture): their picks
    are left as local contrast made them."""
    generator = torch.Generator().manual_seed(0)
    sharp = torch.rand(1, 3, 48, 64, generator=generator)
    frames = [sharp, torch.from_numpy(gaussian(sharp[0].permute(1, 2, 0).numpy().copy(), 3.0)).permute(2, 0, 1)[None]]
    picks = torch.zeros(1, 1, 48, 64, dtype=torch.long)
    picks[..., 32:] = 1
    assert torch.equal(edge_consistent_picks(frames, picks, 2.0), picks)


def test_wide_gaussians_on_small_copies_match_the_direct_blur() -> None:
    plane = np.random.default_rng(0).random((96, 128)).astype(np.float32)
    import cv2

    direct = cv2.GaussianBlur(plane, (49, 49), 8.0, sigmaY=8.0)
    assert np.abs(gaussian(plane, 8.0) - direct)[16:-16, 16:-16].max() < 0.02
