"""Training losses: reconstruction, and DiffCamera's stacking constraint.

The stacking constraint asks that the model's predictions for one scene at several focus planes, blended with
the masks that give each pixel to the frame focused nearest its depth, reproduce the all-in-focus composite.
All images here are in the model's space (sRGB scaled to [-1, 1]).
"""

from __future__ import annotations

import torch

from refocus_cli.render.stacking import blend_stack


def reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of [N,3,H,W] images (a scalar).

    >>> float(reconstruction_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)))
    1.0
    """
    return (prediction - target).abs().mean()


def stacking_loss(predictions: torch.Tensor, masks: torch.Tensor, composite: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the masked blend of the predictions and the composite (a scalar).

    Args:
        predictions: [N,F,3,H,W] the model's output at each of F focus planes.
        masks: [N,F,H,W] in-focus masks, summing to 1 over F.
        composite: [N,3,H,W] the all-in-focus composite of the true frames under the same masks.

    Zero when the predictions are the true frames (the composite is their blend); positive otherwise.

    >>> frames = torch.rand(1, 2, 3, 4, 4); masks = torch.zeros(1, 2, 4, 4); masks[:, 0] = 1
    >>> float(stacking_loss(frames, masks, frames[:, 0]))
    0.0
    """
    return (blend_stack(predictions, masks) - composite).abs().mean()
