"""Highlight boost: brighten blown highlights before blurring so bokeh balls keep their punch.

Clipped files lose the true brightness of small lights; a lens renders them as bright discs. Like the
highlight controls of Lightroom's Lens Blur and Photoshop's specular highlights, pixels whose luminance is
above a threshold are scaled up in linear light, and only where the new render blurs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from refocus_cli.errors import SettingsError

_REC709_LUMA = (0.2126, 0.7152, 0.0722)


@dataclass(frozen=True)
class HighlightSettings:
    """boost: extra gain at full white (0 = off, 2 = three times as bright); threshold: linear luminance
    where the boost starts, in (0, 1)."""

    boost: float = 0.0
    threshold: float = 0.8

    def __post_init__(self) -> None:
        if not self.boost >= 0:
            raise SettingsError(f"--highlights must be zero or positive, got {self.boost}")
        if not 0.0 < self.threshold < 1.0:
            raise SettingsError(f"--highlight-threshold must be between 0 and 1, got {self.threshold}")


def boost_highlights(linear: torch.Tensor, coc_px: torch.Tensor, settings: HighlightSettings) -> torch.Tensor:
    """Scale up highlights of pixels that will be blurred.

    Args:
        linear: [N,3,H,W] linear light.
        coc_px: [N,1,H,W] signed CoC radius in pixels; pixels under 1 px of blur are left alone.
        settings: boost and threshold.

    Returns:
        [N,3,H,W] linear light, values may exceed 1.
    """
    if settings.boost == 0:
        return linear
    luma_weights = torch.tensor(_REC709_LUMA, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    luma = (linear * luma_weights).sum(dim=1, keepdim=True)
    ramp = ((luma - settings.threshold) / (1.0 - settings.threshold)).clamp(0.0, 1.0) ** 2
    blurred = (coc_px.abs() - 0.5).clamp(0.0, 1.0)
    return linear * (1.0 + settings.boost * ramp * blurred)
