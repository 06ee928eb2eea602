"""The sharpness figure of a fused focus stack: the share of textured tiles where the fused image is at least as
sharp as the sharpest input frame.

Rule (the README's "Peers" section states it too):
- The frames are put on the fused image's grid: each is matched to it by the fusion's similarity fit
  (`fusion.align.match_pair`, on greys at most `align.WORK_SIDE_PX` long) and resampled there (unless the map
  moves no pixel by `SNAP_PX`); a tile is scored only where every frame covers all of it.
- A tile's sharpness is the mean squared Laplacian of Gaussian (sigma `LOG_SIGMA_PX`) of the gamma-encoded luma
  over the tile; tiles are `TILE_FRACTION` of the long side (at least `MIN_TILE_PX`).
- Textured tiles: the sharpest frame's sharpness reaches `TEXTURE_FRACTION` of its 99th percentile over the
  scored tiles (flat sky and walls say nothing about focus).
- A textured tile counts when the fused image's sharpness is at least `MARGIN` times the sharpest frame's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

TILE_FRACTION = 1 / 40
MIN_TILE_PX = 16
LOG_SIGMA_PX = 1.0
TEXTURE_FRACTION = 0.05
MARGIN = 1.0
SNAP_PX = 0.05
"""A frame whose map onto the fused grid moves no corner this far is taken as already on it (not resampled)."""


@dataclass(frozen=True)
class SharpnessScore:
    """`share` of the `textured` tiles (out of `scored`, those every frame covers) where the fused image is at
    least as sharp as the sharpest frame."""

    share: float
    textured: int
    scored: int


def tile_px_for(size_hw: tuple[int, int]) -> int:
    """The tile side for an image of this size.

    >>> tile_px_for((720, 1280)), tile_px_for((100, 120))
    (32, 16)
    """
    return max(MIN_TILE_PX, round(max(size_hw) * TILE_FRACTION))


def tile_sharpness(linear: torch.Tensor, tile_px: int) -> torch.Tensor:
    """[1,3,H,W] linear light -> [h,w] mean squared LoG of the gamma-encoded luma per tile (partial tiles at the
    right and bottom edges left out)."""
    import torch.nn.functional as F

    from refocus_cli.filters import gaussian_blur, laplacian
    from refocus_cli.fusion.planes import luma

    response = laplacian(gaussian_blur(luma(linear.float()), LOG_SIGMA_PX)) ** 2
    return F.avg_pool2d(response, tile_px)[0, 0]


def moved_px(to_frame: np.ndarray, size_hw: tuple[int, int]) -> float:
    """How far a 3x3 map moves the image's corners, at most, in pixels.

    >>> round(moved_px(np.array([[1.0, 0, 0.25], [0, 1, 0], [0, 0, 1]]), (10, 20)), 3)
    0.25
    """
    h, w = size_hw
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
    return float(np.abs(to_frame @ corners - corners)[:2].max())


def frames_on_grid(fused: torch.Tensor, frames: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each frame [1,3,H,W] resampled onto the fused image's grid, and [1,1,H,W] where all of them cover it."""
    import torch

    from refocus_cli.fusion.align import WORK_SIDE_PX, grey_for_matching, match_pair, warp_to_reference

    size_hw = (int(fused.shape[-2]), int(fused.shape[-1]))
    target = grey_for_matching(fused, WORK_SIDE_PX)
    placed, covered = [], torch.ones(1, 1, *size_hw)
    for frame in frames:
        to_frame, _ = match_pair(grey_for_matching(frame, WORK_SIDE_PX), target, size_hw)
        if moved_px(to_frame, size_hw) < SNAP_PX:  # the same grid: leave the frame as it is
            to_frame = np.eye(3)
        warped, coverage = warp_to_reference(frame, to_frame)
        placed.append(warped)
        covered = covered * coverage
    return placed, covered


def sharpness_score(fused: torch.Tensor, frames: list[torch.Tensor], *, align: bool = True) -> SharpnessScore:
    """The module's figure for a fused image [1,3,H,W] and its input frames (each [1,3,H,W], linear light, the
    fused image's size); `align=False` takes the frames as already on the fused image's grid."""
    import torch
    import torch.nn.functional as F

    for frame in frames:
        if frame.shape[-2:] != fused.shape[-2:]:
            raise ValueError(f"frames are {tuple(frame.shape[-2:])}, the fused image {tuple(fused.shape[-2:])}")
    tile = tile_px_for((int(fused.shape[-2]), int(fused.shape[-1])))
    if align:
        placed, covered = frames_on_grid(fused, frames)
    else:
        placed, covered = frames, torch.ones_like(fused[:, :1])
    scored = (-F.max_pool2d(-covered, tile))[0, 0] > 0.5  # every pixel of the tile covered
    sharpest = torch.stack([tile_sharpness(frame, tile) for frame in placed]).amax(dim=0)
    ours = tile_sharpness(fused, tile)
    if not bool(scored.any()):
        return SharpnessScore(float("nan"), 0, 0)
    top = float(torch.quantile(sharpest[scored], 0.99))
    textured = scored & (sharpest >= TEXTURE_FRACTION * top) & (sharpest > 0)
    count = int(textured.sum())
    share = float((ours[textured] >= MARGIN * sharpest[textured]).float().mean()) if count else float("nan")
    return SharpnessScore(share, count, int(scored.sum()))
