"""The stacking constraint (DiffCamera): frames of one scene focused at several planes, each masked where it is
in focus, add up to the all-in-focus image.

`in_focus_masks` gives each pixel to the frame focused nearest its disparity (soft at the midpoints between
planes when `softness` > 0); `blend_stack` applies them. A refocus model trained with this constraint is asked
that its outputs at several focus planes, blended so, reproduce its all-in-focus estimate.
"""

from __future__ import annotations

import torch


def in_focus_masks(disparity: torch.Tensor, focus_disparities: torch.Tensor, *, softness: float = 0.0) -> torch.Tensor:
    """Masks [N,F,H,W] summing to 1 over F: which of F frames is in focus at each pixel.

    Args:
        disparity: [N,1,H,W], 1 = nearest.
        focus_disparities: [F] or [N,F] focus disparity of each frame.
        softness: 0 gives one-hot masks (the nearest plane wins); > 0 is a temperature in disparity units
            for a softmax over -|d - d_f|, which is differentiable.

    >>> in_focus_masks(torch.tensor([[[[0.1, 0.8]]]]), torch.tensor([0.9, 0.0]))[0, :, 0].tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    focus = focus_disparities.to(disparity)
    focus = (focus.unsqueeze(0) if focus.dim() == 1 else focus)[:, :, None, None]  # [1 or N, F, 1, 1]
    distance = (disparity - focus).abs()  # [N,F,H,W]
    if softness > 0:
        return torch.softmax(-distance / softness, dim=1)
    nearest = distance.argmin(dim=1, keepdim=True)
    return torch.zeros_like(distance).scatter_(1, nearest, 1.0)


def blend_stack(frames: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The stack blended by its masks: frames [N,F,C,H,W], masks [N,F,H,W] -> [N,C,H,W].

    >>> blend_stack(torch.ones(1, 2, 3, 4, 4), torch.full((1, 2, 4, 4), 0.5)).shape
    torch.Size([1, 3, 4, 4])
    """
    return (frames * masks.unsqueeze(2)).sum(dim=1)
