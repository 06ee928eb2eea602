"""A focal stack from one photo: focus planes spread evenly in disparity, nearest first, each rendered.

The planes span the depth range actually present: the 1st to the 99th percentile of the disparity (so a few
stray pixels do not stretch the sweep), nearest focus first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.lens import signed_coc_px
from refocus_cli.render.layered import render_layered
from refocus_cli.render.planes import LayeredSettings

LOW_QUANTILE, HIGH_QUANTILE = 0.01, 0.99
QUANTILE_SAMPLES = 1 << 20
"""At most this many disparity samples go into the percentiles (torch.quantile's input is capped)."""


def sweep_focus_disparities(disparity: torch.Tensor, frames: int) -> list[float]:
    """`frames` focus disparities from the nearest to the farthest present in `disparity` [N,1,H,W].

    >>> sweep_focus_disparities(torch.linspace(0, 1, 101).view(1, 1, 1, 101), 3)
    [0.99, 0.5, 0.01]
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    values = disparity.detach().flatten().float()
    if values.numel() > QUANTILE_SAMPLES:
        values = values[torch.linspace(0, values.numel() - 1, QUANTILE_SAMPLES).long()]
    low, high = (float(q) for q in torch.quantile(values.cpu(), torch.tensor([LOW_QUANTILE, HIGH_QUANTILE])))
    if frames == 1:
        return [round(0.5 * (low + high), 6)]
    return [round(high - (high - low) * i / (frames - 1), 6) for i in range(frames)]


@dataclass(frozen=True)
class SweepFrame:
    """One frame of a focus sweep: its index, focus disparity and the image [1,3,H,W] (linear light)."""

    index: int
    focus_disparity: float
    linear: torch.Tensor


def render_sweep(
    image: torch.Tensor,
    disparity: torch.Tensor,
    focus_disparities: list[float],
    blur_k_px: float,
    *,
    aperture: ApertureShape | None = None,
    settings: LayeredSettings | None = None,
) -> Iterator[SweepFrame]:
    """Render `image` [1,3,H,W] (all-in-focus, linear) at each focus disparity, one frame at a time.

    Frames are yielded as they are rendered, on the device of `image`, so a long sweep never holds them all.
    """
    for index, focus in enumerate(focus_disparities):
        coc = signed_coc_px(disparity, focus, blur_k_px)
        with torch.no_grad():
            yield SweepFrame(index, focus, render_layered(image, coc, aperture, settings))


def nearest_frame(focus_disparities: list[float], disparity: float) -> int:
    """Index of the frame focused closest to `disparity`.

    >>> nearest_frame([0.9, 0.5, 0.1], 0.62)
    1
    """
    return min(range(len(focus_disparities)), key=lambda i: abs(focus_disparities[i] - disparity))
