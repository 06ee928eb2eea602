"""Tiny random diffusers parts (UNet, VAE) that the tests build and save themselves, as diffusers' own tests do."""

from __future__ import annotations

from typing import Any


def tiny_unet(*, in_channels: int, sample_size: int) -> Any:
    """A two-level conditional UNet (8 and 16 channels, cross-attention width 16) predicting 4 latent channels."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )


def tiny_vae(*, sample_size: int) -> Any:
    """A two-level RGB autoencoder with 4 latent channels (downsampling by 2)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 16),
        norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=sample_size,
    )
