"""A stacking group captured as a camera does (`stack.capture = "camera"`): each ideal frame magnified a little
by focus breathing, moved by sub-pixel drift and exposed a little differently (flicker).

The middle frame (index F // 2, nearest focus first) keeps the identity, so the truth written beside the frames
(the in-focus masks, the composite, the all-in-focus image and the depth) stays in its pixel grid. Breathing
is monotonic with focus: the magnification grows towards the near-focused frames by a total change across the
stack drawn in `BREATHING`. A frame's recorded (scale, shift_xy, gain) undoes as

    ideal ~= similarity_warp(captured / gain, 1 / scale, (-shift_x / scale, -shift_y / scale))

(`render.synthetic_stacks.similarity_warp`: magnify about the centre, then move), away from the border.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from refocus_cli.render.synthetic_stacks import similarity_warp

BREATHING = (0.005, 0.02)
"""The total magnification change across the stack (first frame's scale minus the last's), drawn uniformly."""
MAX_DRIFT_PX = 1.0
"""A frame's shift is shorter than this, in pixels, in a uniformly drawn direction."""
MAX_FLICKER = 0.03
"""A frame's exposure gain lies within 1 +- this."""


@dataclass(frozen=True)
class FrameCapture:
    """One frame's capture: magnification about the centre, then a shift in pixels (x right, y down), then an
    exposure gain on linear light."""

    scale: float = 1.0
    shift_xy: tuple[float, float] = (0.0, 0.0)
    gain: float = 1.0

    def to_record(self) -> dict[str, Any]:
        return {"capture_scale": self.scale, "capture_shift_xy": list(self.shift_xy), "capture_gain": self.gain}


def draw_captures(frames: int, generator: torch.Generator) -> list[FrameCapture]:
    """Each frame's capture, nearest focus first; the middle frame's is the identity.

    The draws, in order: the total breathing, then each other frame's drift (direction, length) and gain.
    """
    middle = frames // 2
    low, high = BREATHING
    step = (low + (high - low) * _uniform(generator)) / (frames - 1)
    captures = []
    for index in range(frames):
        if index == middle:
            captures.append(FrameCapture())
            continue
        angle, length = 2 * math.pi * _uniform(generator), MAX_DRIFT_PX * _uniform(generator)
        gain = 1.0 + MAX_FLICKER * (2 * _uniform(generator) - 1)
        shift = (length * math.cos(angle), length * math.sin(angle))
        captures.append(FrameCapture(1.0 + step * (middle - index), shift, gain))
    return captures


def capture_frame(image: torch.Tensor, capture: FrameCapture) -> torch.Tensor:
    """[1,3,H,W] linear light as the camera records it (on the CPU; the identity returns `image` itself)."""
    if capture == FrameCapture():
        return image
    return similarity_warp(image.cpu(), capture.scale, capture.shift_xy) * capture.gain


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))
