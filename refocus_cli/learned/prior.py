"""The physics prior: the physics engine's render, which the learned engine takes as an input and corrects.

The learned model predicts a residual on top of the physics engine's refocused image (the layered renderer, disc
aperture, default quality), the way BokehMe pairs a classical renderer with a neural one: the physics render is
right almost everywhere, and what it cannot do (sharpen a defocused input, fix the look at depth edges, match a
polygonal aperture) is what the network learns. The prior is rendered on the whole image before any tiling or
cropping, so its blur sees the context a crop would cut off.
"""

from __future__ import annotations

import torch

from refocus_cli.colour import linear_to_srgb, srgb_to_linear
from refocus_cli.render.layered import render_layered


def to_model_space(linear: torch.Tensor) -> torch.Tensor:
    """Linear light -> the model's space: sRGB scaled to [-1, 1] (values clipped to [0, 1] first), same shape."""
    return linear_to_srgb(linear.clamp(0.0, 1.0)) * 2.0 - 1.0


def from_model_space(values: torch.Tensor) -> torch.Tensor:
    """The model's space -> linear light in [0, 1] (values outside [-1, 1] clipped), same shape."""
    return srgb_to_linear(((values + 1.0) / 2.0).clamp(0.0, 1.0))


def physics_prior_linear(image: torch.Tensor, disparity_delta: torch.Tensor, blur_k_px: torch.Tensor) -> torch.Tensor:
    """The physics engine's refocused image.

    Args:
        image: [N,3,H,W] linear light.
        disparity_delta: [N,1,H,W] d - d_focus.
        blur_k_px: [N] K, CoC radius in pixels per unit disparity.

    Returns:
        [N,3,H,W] linear light.

    >>> physics_prior_linear(torch.ones(1, 3, 8, 8), torch.zeros(1, 1, 8, 8), torch.tensor([8.0])).shape
    torch.Size([1, 3, 8, 8])
    """
    k = blur_k_px.to(disparity_delta).reshape(-1, 1, 1, 1)
    return render_layered(image, disparity_delta * k)


def physics_prior(photo: torch.Tensor, disparity_delta: torch.Tensor, blur_k_px: torch.Tensor) -> torch.Tensor:
    """`physics_prior_linear` in the model's space: sRGB scaled to [-1, 1] in and out, [N,3,H,W]."""
    return to_model_space(physics_prior_linear(from_model_space(photo), disparity_delta, blur_k_px))
