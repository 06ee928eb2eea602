"""Pull-push interpolation (Gortler et al. 1996, "The Lumigraph", sec. 3.2): fill holes in an image from the
pixels around them, through an image pyramid, in time linear in the pixel count."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull_fill(values: torch.Tensor, weights: torch.Tensor, *, levels: int) -> torch.Tensor:
    """Weighted values everywhere: known pixels keep theirs, holes get a smooth blend of their surroundings.

    Args:
        values: [N,C,H,W] straight (not weighted) values; anything where the weight is 0.
        weights: [N,1,H,W] confidence in [0, 1]; 0 marks a hole.
        levels: pyramid levels below full resolution; holes wider than about 2**levels px stay unfilled.

    Returns:
        [N,C,H,W] filled values; pixels no level could reach are 0.

    >>> filled = push_pull_fill(torch.ones(1, 1, 8, 8), (torch.arange(64) % 2).float().view(1, 1, 8, 8), levels=2)
    >>> bool(torch.allclose(filled, torch.ones(1, 1, 8, 8)))
    True
    """
    weighted = values * weights
    pyramid: list[tuple[torch.Tensor, torch.Tensor]] = []
    for _ in range(levels):
        if min(weights.shape[-2:]) < 2:
            break
        pyramid.append((weighted, weights))
        pooled_weights = F.avg_pool2d(weights, 2, ceil_mode=True)
        weighted = F.avg_pool2d(weighted, 2, ceil_mode=True)
        # Pull: the coarse value is the weighted mean; its confidence grows with the known area under it.
        weighted = weighted / pooled_weights.clamp_min(1e-12) * (4 * pooled_weights).clamp(max=1.0)
        weights = (4 * pooled_weights).clamp(max=1.0)
    filled = weighted / weights.clamp_min(1e-12)
    for level_weighted, level_weights in reversed(pyramid):
        coarse = F.interpolate(filled, size=level_weights.shape[-2:], mode="bilinear", align_corners=False)
        # Push: keep what is known at this level, take the coarse estimate for the rest.
        filled = level_weighted + (1.0 - level_weights) * coarse
    return filled
