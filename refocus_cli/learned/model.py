"""`RefocusModel`: a compact diffusers UNet that refocuses a photo.

Inputs, all at the photo's resolution:
- the photo, sRGB-encoded and scaled to [-1, 1] (diffusers' convention), [N,3,H,W];
- the signed disparity difference to the new focal plane, d - d_focus in [-1, 1], [N,1,H,W];
- the signed CoC radius it implies, K (d - d_focus) divided by `blur_scale_px`, [N,1,H,W];
- the blur level K (pixels per unit disparity) as an embedding added to the time embedding;
- with `physics_prior` (the default), the physics engine's refocused image in the same space, [N,3,H,W]
  (`learned.prior`);
- for the few-step sampler, the noisy estimate x_t [N,3,H,W] and its timestep (zeros and 0 in one-step use).

It predicts the refocused image in the same [-1, 1] space as a learned residual on top of the physics prior, or
on top of the photo itself without one. The residual's last layer starts at zero, so an untrained model is
exactly the physics engine (or the identity without the prior) and training only ever has to correct it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from diffusers import ModelMixin, UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config

CONDITION_CHANNELS = 2
"""Per-pixel conditions: the disparity difference and the scaled CoC radius."""


class MissingPriorError(ValueError):
    """A model trained on the physics prior was called without one."""


class RefocusModel(ModelMixin, ConfigMixin):
    """A UNet from diffusers' blocks; its settings travel with its weights (`save_pretrained`).

    Args:
        block_out_channels: channels per resolution level (each level halves the size).
        layers_per_block: ResNet blocks per level.
        norm_num_groups: group-norm groups (must divide every channel count).
        blur_scale_px: K values are divided by this before the embedding and the CoC channel.
        attention: self-attention in the lowest level's blocks.
        physics_prior: take the physics engine's render as an input and predict a residual on it.
    """

    @register_to_config
    def __init__(
        self,
        block_out_channels: tuple[int, ...] = (32, 64, 128),
        layers_per_block: int = 1,
        norm_num_groups: int = 8,
        blur_scale_px: float = 32.0,
        attention: bool = False,
        physics_prior: bool = True,
    ) -> None:
        super().__init__()
        levels = len(block_out_channels)
        self.blur_scale_px = float(blur_scale_px)
        self.size_multiple = 2 ** (levels - 1)
        """Height and width must be multiples of this (the pipeline pads to it)."""
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.physics_prior = bool(physics_prior)
        self.unet = UNet2DModel(
            in_channels=3 + CONDITION_CHANNELS + 3 * self.physics_prior + 3,
            out_channels=3,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            norm_num_groups=norm_num_groups,
            class_embed_type="timestep",
            add_attention=attention,
        )
        conv_out: torch.nn.Module = self.unet.conv_out  # type: ignore[attr-defined]
        for parameter in conv_out.parameters():
            torch.nn.init.zeros_(parameter)  # start as the prior (or the identity)

    if TYPE_CHECKING:  # nn.Module's __call__ runs forward; say so for the type checker

        def __call__(
            self,
            image: torch.Tensor,
            disparity_delta: torch.Tensor,
            blur_k_px: torch.Tensor,
            noisy: torch.Tensor | None = None,
            timestep: torch.Tensor | None = None,
            prior: torch.Tensor | None = None,
        ) -> torch.Tensor: ...

    def forward(
        self,
        image: torch.Tensor,
        disparity_delta: torch.Tensor,
        blur_k_px: torch.Tensor,
        noisy: torch.Tensor | None = None,
        timestep: torch.Tensor | None = None,
        prior: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The refocused image.

        Args:
            image: [N,3,H,W] sRGB in [-1, 1].
            disparity_delta: [N,1,H,W] d - d_focus.
            blur_k_px: [N] K in pixels per unit disparity.
            noisy: [N,3,H,W] x_t of the few-step sampler; None (zeros) for one step.
            timestep: [N] its timestep; None (0) for one step.
            prior: [N,3,H,W] the physics engine's render in the photo's space (`learned.prior.physics_prior`);
                required when the model was built with `physics_prior`, ignored otherwise.

        Returns:
            [N,3,H,W] sRGB in about [-1, 1].

        Raises:
            MissingPriorError: the model needs the prior and got none.

        >>> model = RefocusModel(block_out_channels=(8, 16), norm_num_groups=4)
        >>> zeros = torch.zeros(1, 3, 8, 8)
        >>> model(zeros, torch.zeros(1, 1, 8, 8), torch.tensor([4.0]), prior=zeros).shape
        torch.Size([1, 3, 8, 8])
        """
        n = image.shape[0]
        scale = self.blur_scale_px
        k = blur_k_px.to(image).reshape(n)
        coc = disparity_delta * (k / scale).view(n, 1, 1, 1)
        noisy = torch.zeros_like(image) if noisy is None else noisy
        timestep = torch.zeros(n, device=image.device) if timestep is None else timestep
        if self.physics_prior and prior is None:
            raise MissingPriorError("this model refines the physics engine's render: pass prior=")
        base = prior.to(image) if self.physics_prior and prior is not None else image
        extra = (base,) if self.physics_prior else ()
        sample = torch.cat((image, disparity_delta.to(image), coc, *extra, noisy), dim=1)
        # The blur level through the sinusoidal projection the timesteps use: K / scale spread over 0..1000.
        blur_label = (k / scale * 1000.0).clamp(0.0, 4000.0)
        residual = self.unet(sample, timestep, class_labels=blur_label).sample  # type: ignore[operator]
        return base + residual
