"""Focus stacking: one sharp image and a depth-from-focus map from a captured focal stack.

Steps, for frames in focus order (nearest focus first):
1. align every frame onto the middle one (`align.py`), with its coverage;
2. balance exposure: a gain per frame and channel, the median ratio to the reference over heavily blurred,
   well-exposed pixels (blur makes the ratio blind to the frames' different focus);
3. a focus measure per frame: the squared Laplacian of Gaussian of the luma (gamma-encoded, so dark and bright
   detail count alike), a fine scale and a weighted-down coarse one, averaged locally;
4. the sharpest frame per pixel, made consistent: a median filter removes isolated picks (the noise that
   makes halos and speckle at high-contrast edges);
5. fusion: the frames' Laplacian pyramids blended with the pyramids of their (softened) pick masks, so seams
   between frames vanish at every scale;
6. depth from focus: the index of the sharpest frame refined to a fraction by a parabola through the focus
   measures around it, then median-filtered; nearest = 1.

All frames stay in memory as float16 aligned copies (20 frames of 12 MP: about 1.4 GB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from refocus_cli.filters import (
    collapse_pyramid,
    downsample2,
    gaussian_blur,
    gaussian_pyramid,
    laplacian,
    laplacian_pyramid,
)

LUMA = (0.2126, 0.7152, 0.0722)
MEASURE_BANDS = ((1.0, 1.0), (2.0, 0.1))
"""(sigma, weight) of each scale of the Laplacian of Gaussian (sigma at 1000 px on the long side; it grows with
the image). The fine scale decides wherever there is fine detail; the coarse one, weighted down, decides where
there is none (it reaches further, so left at full weight it would carry a sharp edge's energy into the
blurred region beside it and pick the wrong frame there)."""
COARSE_SIGMA_PX = 2.0
"""LoG scales from twice this are computed on half-size copies (repeatedly), the same band at less cost."""
MEASURE_WINDOW_PX = 1.0
"""Sigma of the local average of the focus measure (at 1000 px on the long side)."""
CONSISTENCY_PX = 5
"""Median filter size for the pick map (at 1000 px on the long side)."""
EXPOSURE_BLUR_PX = 8.0
EXPOSURE_SIDE_PX = 1000
"""Exposure is compared on copies about this long (area-averaged)."""
PYRAMID_MIN_SIDE_PX = 16


@dataclass(frozen=True)
class FusedStack:
    """The fused image [1,3,H,W] (linear light) and depth from focus [1,1,H,W] (1 = nearest frame's focus),
    with per-frame alignment facts: magnification, method and exposure gain."""

    image: torch.Tensor
    disparity: torch.Tensor
    frame_index: torch.Tensor  # [1,1,H,W] float: which frame is sharpest, fractional
    scales: list[float]
    methods: list[str]
    gains: list[list[float]]


def luma(linear: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] linear -> [N,1,H,W] gamma-encoded luma: the square root of linear luminance, near sRGB's curve
    (so dark and bright detail count alike) and several times cheaper to compute."""
    weights = torch.tensor(LUMA, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    return (linear.clamp(0, 1) * weights).sum(dim=1, keepdim=True).sqrt()


def size_factor(image: torch.Tensor) -> float:
    """Filter sizes are given for 1000 px on the long side of an image [...,H,W] and scale with it, never below 1."""
    return max(1.0, max(image.shape[-2:]) / 1000.0)


def focus_measure(linear: torch.Tensor) -> torch.Tensor:
    """[1,3,H,W] linear -> [1,1,H,W] local energy of the Laplacian of Gaussian of the luma, over `MEASURE_BANDS`."""
    size_hw = (int(linear.shape[-2]), int(linear.shape[-1]))
    factor = size_factor(linear)
    y = luma(linear)
    energy = torch.zeros_like(y)
    for sigma, weight in MEASURE_BANDS:
        s, level = sigma * factor, y
        while s >= 2 * COARSE_SIGMA_PX:  # a wide LoG sees nothing a half-size copy does not: compute it there
            level, s = downsample2(level), s / 2
        band = weight * (s**2 * laplacian(gaussian_blur(level, s))) ** 2  # scale-normalised LoG, squared
        energy += band if band.shape[-2:] == y.shape[-2:] else F.interpolate(band, size=size_hw, mode="bilinear")
    return gaussian_blur(energy, MEASURE_WINDOW_PX * factor)


def exposure_view(image: torch.Tensor, coverage: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What exposure is compared on: [1,3,h,w] a heavily blurred copy about EXPOSURE_SIDE_PX long (blur makes
    the comparison blind to focus), and [1,1,h,w] where the frame covers all of each small pixel."""
    h, w = image.shape[-2:]
    step = max(1, round(max(h, w) / EXPOSURE_SIDE_PX))
    small = F.avg_pool2d(image.float(), step, ceil_mode=True) if step > 1 else image.float()
    cover = -F.max_pool2d(-coverage.float(), step, ceil_mode=True) if step > 1 else coverage.float()
    factor = size_factor(small)
    return gaussian_blur(small, EXPOSURE_BLUR_PX * factor), cover


def exposure_gains(
    frame: tuple[torch.Tensor, torch.Tensor], reference: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Gain [1,3,1,1] that matches a frame's exposure to the reference's: per channel, the median ratio over
    well-exposed pixels both cover, of their `exposure_view`s."""
    (a, cover_a), (b, cover_b) = frame, reference
    good = (cover_a > 0.999) & (cover_b > 0.999) & (a > 0.01) & (b > 0.01) & (a < 0.9) & (b < 0.9)  # [1,3,h,w]
    gains = []
    for c in range(3):
        ratios = (b[:, c][good[:, c]] / a[:, c][good[:, c]]) if bool(good[:, c].any()) else torch.ones(1)
        gains.append(float(ratios[:: max(1, ratios.numel() // 200_000)].median()))
    return torch.tensor(gains).view(1, 3, 1, 1)


def median_filter_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Median filter of an integer pick map [1,1,H,W] (values < 256) with an odd `size`."""
    import cv2

    size = max(3, size | 1)
    picks = index[0, 0].to(torch.uint8).cpu().numpy()
    return torch.from_numpy(cv2.medianBlur(np.ascontiguousarray(picks), size)).long()[None, None]


@dataclass
class SharpestPicker:
    """The sharpest frame per pixel, fed one focus measure [1,1,H,W] at a time in focus order, with the
    measures of its two neighbours for a parabolic refinement; holds four maps, not the whole volume."""

    best: torch.Tensor | None = None  # [1,1,H,W] long
    best_measure: torch.Tensor | None = None
    left: torch.Tensor | None = None  # measure of frame best - 1 (or of best itself at the first frame)
    right: torch.Tensor | None = None  # measure of frame best + 1 (or of best itself at the last frame)
    previous: torch.Tensor | None = None
    count: int = 0

    def add(self, measure: torch.Tensor) -> None:
        index = self.count
        if self.best is None or self.best_measure is None or self.left is None or self.right is None:
            self.best = torch.zeros_like(measure, dtype=torch.long)
            self.best_measure, self.left, self.right = measure, measure, measure
        else:
            after_best = self.best == index - 1
            self.right = torch.where(after_best, measure, self.right)
            take = measure > self.best_measure
            assert self.previous is not None
            self.left = torch.where(take, self.previous, self.left)
            self.right = torch.where(take, measure, self.right)
            self.best = torch.where(take, torch.full_like(self.best, index), self.best)
            self.best_measure = torch.where(take, measure, self.best_measure)
        self.previous = measure
        self.count += 1

    def fractional(self) -> torch.Tensor:
        """The best index refined by a parabola through the measures around it, within half a frame."""
        assert self.best is not None and self.best_measure is not None
        assert self.left is not None and self.right is not None
        curvature = self.left - 2 * self.best_measure + self.right
        offset = 0.5 * (self.left - self.right) / curvature.clamp_max(-1e-12)
        inner = (self.best > 0) & (self.best < self.count - 1) & (curvature < 0)
        return self.best.float() + torch.where(inner, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))


def blend_pyramids(frames: list[torch.Tensor], mask_of: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Laplacian-pyramid blend of frames [1,3,H,W] by masks [1,1,H,W] that sum to 1 (`mask_of(i)` makes frame
    i's mask when it is needed, so only one is held at a time)."""
    h, w = frames[0].shape[-2:]
    levels = max(1, int(np.log2(min(h, w) / PYRAMID_MIN_SIDE_PX)))
    fused: list[torch.Tensor] | None = None
    for i, frame in enumerate(frames):
        bands = laplacian_pyramid(frame.float(), levels)
        weights = gaussian_pyramid(mask_of(i), levels)
        weighted = [band * weight for band, weight in zip(bands, weights, strict=True)]
        fused = weighted if fused is None else [f + x for f, x in zip(fused, weighted, strict=True)]
    assert fused is not None
    return collapse_pyramid(fused).clamp_min(0.0)


def fuse_aligned(
    frames: list[torch.Tensor], coverages: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fuse aligned, exposure-balanced frames [1,3,H,W] (focus order) with their coverages [1,1,H,W].

    Returns the fused image [1,3,H,W], the consistent pick map [1,1,H,W] (long) and the fractional index.
    """
    picker = SharpestPicker()
    for frame, coverage in zip(frames, coverages, strict=True):
        measure = focus_measure(frame.float())
        picker.add(torch.where(coverage > 0.999, measure, torch.full_like(measure, -1.0)))
    assert picker.best is not None
    factor = size_factor(frames[0])
    picks = median_filter_index(picker.best, round(CONSISTENCY_PX * factor))
    # Blurred one-hot masks still sum to 1: the blur is linear and the picks partition the image.
    image = blend_pyramids(frames, lambda i: gaussian_blur((picks == i).float(), 0.5 * factor))
    return image, picks, picker.fractional()


def depth_from_focus(fractional: torch.Tensor, picks: torch.Tensor, count: int) -> torch.Tensor:
    """Disparity [1,1,H,W] in [0, 1] (frame 0, the nearest focus, is 1) from the fractional pick map, kept
    where it agrees with the consistent picks, then median-filtered: edge-preserving, and unlike a guided
    filter on the image it does not average across objects of similar colour at different depths (measured:
    a guided filter lowered the share of correctly ordered pixels from 0.93 to 0.83 on a synthetic stack)."""
    import cv2

    if count == 1:
        return torch.full_like(fractional, 0.5)
    agree = (fractional - picks.float()).abs() <= 1.0
    index = torch.where(agree, fractional, picks.float())
    factor = size_factor(index)
    size = max(3, round(CONSISTENCY_PX * factor) | 1)
    smooth = cv2.medianBlur(np.ascontiguousarray(index[0, 0].cpu().numpy().astype(np.float32)), min(size, 5))
    if size > 5:  # OpenCV's float median stops at 5: repeat it for larger windows
        for _ in range(size // 5):
            smooth = cv2.medianBlur(smooth, 5)
    return (1.0 - torch.from_numpy(smooth)[None, None] / (count - 1)).clamp(0.0, 1.0)


@dataclass(frozen=True)
class AlignedStack:
    """Frames resampled onto the middle frame's grid [1,3,H,W] (float16, exposure balanced), their coverages
    [1,1,H,W], each frame's magnification and alignment method, and the exposure gains applied."""

    frames: list[torch.Tensor]
    coverages: list[torch.Tensor]
    scales: list[float]
    methods: list[str]
    gains: list[list[float]]


def align_and_balance(frames: list[torch.Tensor]) -> AlignedStack:
    """Align frames [1,3,H,W] (linear, focus order) onto the middle one and match their exposure to it.

    The list's frames are replaced one by one by their aligned float16 copies, so memory holds about one copy
    of the stack.
    """
    from refocus_cli.fusion.align import WORK_SIDE_PX, align_stack, grey_for_matching, warp_to_reference

    size_hw = (int(frames[0].shape[-2]), int(frames[0].shape[-1]))
    alignment = align_stack([grey_for_matching(f.float(), WORK_SIDE_PX) for f in frames], size_hw)
    reference = len(frames) // 2
    reference_view = exposure_view(frames[reference], torch.ones_like(frames[reference][:, :1]))  # identity map
    coverages: list[torch.Tensor] = []
    gains = []
    for i in range(len(frames)):
        warped, coverage = warp_to_reference(frames[i].float(), alignment.to_frame[i])
        gain = exposure_gains(exposure_view(warped, coverage), reference_view)
        frames[i] = (warped * gain).half()
        coverages.append(coverage)
        gains.append([round(float(g), 5) for g in gain.flatten()])
    return AlignedStack(frames, coverages, alignment.scales, alignment.methods, gains)


def fuse_stack(frames: list[torch.Tensor]) -> FusedStack:
    """Align, balance and fuse frames [1,3,H,W] (linear light, nearest focus first, float16 or float32).

    The output is in the middle frame's pixel grid; the list's frames are replaced by aligned copies.
    """
    aligned = align_and_balance(frames)
    image, picks, fractional = fuse_aligned(aligned.frames, aligned.coverages)
    disparity = depth_from_focus(fractional, picks, len(frames))
    return FusedStack(image, disparity, fractional, aligned.scales, aligned.methods, aligned.gains)


def fuse_max_laplacian(frames: list[torch.Tensor], coverages: list[torch.Tensor]) -> torch.Tensor:
    """The plain baseline: per pixel, the frame with the largest smoothed |Laplacian| of luma, copied as is."""
    best = torch.full_like(frames[0][:, :1], -1.0, dtype=torch.float32)
    out = torch.zeros_like(frames[0], dtype=torch.float32)
    for frame, coverage in zip(frames, coverages, strict=True):
        measure = gaussian_blur(laplacian(luma(frame.float())).abs(), 2.0)
        measure = torch.where(coverage > 0.999, measure, torch.full_like(measure, -1.0))
        take = measure > best
        out = torch.where(take, frame.float(), out)
        best = torch.where(take, measure, best)
    return out
