"""Spatially varying deconvolution of defocus blur: one disc per depth layer, layers blended by occlusion-aware masks.

For every layer radius (`restore.layers`: geometric radii, occlusion-aware valid and trust masks):

1. crop the layer's bounding box (grown by the kernel's reach) from the photo's luminance (or colour), scaled
   to a typical level of 0.2 so the prior weight means the same on dark and bright photos;
2. shrink it by an integer factor where the radius is large (``radius / factor`` about `reduced_radius_px`):
   a wide disc leaves nothing above the reduced Nyquist frequency to recover;
3. fill the pixels that are not this layer's blur alone (`valid` = 0) by pull-push from the valid ones, so the
   Fourier step sees a smooth scene there instead of an occlusion edge that no convolution explains;
4. deconvolve by half-quadratic splitting under a hyper-Laplacian prior (`restore.hqs`), and keep each
   pixel between the photo's extremes within its disc (what overshoots them is ringing: at occlusions, at
   bright lights whose bokeh the disc model does not match exactly);
5. take the recovered detail (restored minus filled photo), back at full resolution, where the layer is
   trusted, weighted by each pixel's share of this radius.

Deconvolving the luminance only and adding its detail to the three channels costs a third; colour-only detail
(edges between colours of one brightness) is not brought back then.

Status: an alternative to `restore.deconvolve` (the pipeline's default), not yet ahead of it: see the README's
restore section for what it gains on the hard scenes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from refocus_cli.aperture import kernel_radius_px
from refocus_cli.errors import SettingsError
from refocus_cli.render.pushpull import push_pull_fill
from refocus_cli.restore.hqs import SplittingSettings, deconvolve_frame, periodic_frame
from refocus_cli.restore.layers import LayerMasks, dilate, layer_radii, plan_layers

LUMA = (0.2126, 0.7152, 0.0722)
TYPICAL_LEVEL = 0.2
"""Linear level the photo is scaled to (by its mean luminance) before deconvolution."""


@dataclass(frozen=True)
class HqsLayerSettings:
    """Knobs of the layered half-quadratic-splitting deconvolution.

    Attributes:
        splitting: the half-quadratic splitting of each layer (prior weight, alpha, iterations).
        sharp_radius_px: pixels blurred by less than this keep the photo.
        radius_ratio: layer radii are the median radii of bins this ratio wide (`restore.layers.layer_radii`).
        max_radius_px: radii are clamped to this.
        reduced_radius_px: layers are deconvolved at 1/f resolution, f = floor(radius / this) (1 = always full).
        erode_fraction: trust stays this fraction of a layer's radius inside its valid pixels.
        feather_px: width of the soft edge of trust.
        overshoot_tolerance: a deconvolution that overshoots the photo's local range by this (at the typical
            level 0.2) is not used within its radius of there.
        range_margin: restored values may leave the photo's range within the disc by this fraction of it.
        channels: "luma" deconvolves the luminance and adds its detail to all channels; "rgb" each channel.
    """

    splitting: SplittingSettings = field(default_factory=SplittingSettings)
    sharp_radius_px: float = 1.0
    radius_ratio: float = 1.5
    max_radius_px: float = 64.0
    reduced_radius_px: float = 6.0
    erode_fraction: float = 0.5
    feather_px: int = 2
    overshoot_tolerance: float = 0.1
    range_margin: float = 0.5
    channels: Literal["luma", "rgb"] = "rgb"

    def __post_init__(self) -> None:
        if not self.splitting.prior_weight > 0:
            raise SettingsError(f"restore prior weight must be positive, got {self.splitting.prior_weight}")
        if not self.radius_ratio > 1:
            raise SettingsError(f"restore radius ratio must be above 1, got {self.radius_ratio}")


@dataclass(frozen=True)
class LayeredDeconvolution:
    """The deconvolved photo and the blur left in it.

    Attributes:
        image: [N,3,H,W] linear light >= 0.
        residual_radius_px: [N,1,H,W] blur radius (px) still present at each pixel: 0 where fully deconvolved,
            the photo's own radius where the photo was kept, in between where blended.
    """

    image: torch.Tensor
    residual_radius_px: torch.Tensor


def _box(weight: torch.Tensor, margin: int) -> tuple[slice, slice] | None:
    """Rows and columns of the bounding box of weight > 0 in [N,1,H,W], grown by `margin`; None when empty."""
    rows = weight.amax(dim=(0, 1, 3)).nonzero().flatten()
    cols = weight.amax(dim=(0, 1, 2)).nonzero().flatten()
    if rows.numel() == 0:
        return None
    h, w = weight.shape[-2:]
    return (
        slice(max(0, int(rows[0]) - margin), min(h, int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + 1 + margin)),
    )


def _local_range(image: torch.Tensor, reach_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of [N,C,H,W] over a square of half-width `reach_px` around each pixel (separable, edges
    extended): a pixel's restored value is kept between the photo's extremes within its disc."""
    size = 2 * reach_px + 1

    def max_filter(x: torch.Tensor) -> torch.Tensor:
        rows = F.max_pool2d(F.pad(x, (0, 0, reach_px, reach_px), mode="replicate"), (size, 1), stride=1)
        return F.max_pool2d(F.pad(rows, (reach_px, reach_px, 0, 0), mode="replicate"), (1, size), stride=1)

    return -max_filter(-image), max_filter(image)


def _layer_detail(photo: torch.Tensor, layer: LayerMasks, settings: HqsLayerSettings) -> torch.Tensor:
    """[N,C,h,w] detail the deconvolution of this layer adds to `photo` [N,C,h,w] (already cropped), at full res."""
    h, w = photo.shape[-2:]
    factor = max(1, min(int(layer.radius_px / settings.reduced_radius_px), min(h, w) // 8))
    small_photo, small_valid = photo, layer.valid
    if factor > 1:
        pad_h, pad_w = -h % factor, -w % factor
        small_photo = F.avg_pool2d(F.pad(photo, (0, pad_w, 0, pad_h), mode="replicate"), factor)
        small_valid = F.avg_pool2d(F.pad(layer.valid, (0, pad_w, 0, pad_h), mode="replicate"), factor)
        small_valid = (small_valid > 0.99).to(photo.dtype)
    levels = max(1, math.ceil(math.log2(max(small_photo.shape[-2:]))))
    filled = push_pull_fill(small_photo, small_valid, levels=levels) if float(small_valid.min()) < 1 else small_photo
    radius = layer.radius_px / factor
    frame, (top, left) = periodic_frame(filled, 2 * kernel_radius_px(radius) + 4)
    restored = deconvolve_frame(frame, torch.fft.rfft2(frame), radius, settings.splitting)
    sh, sw = filled.shape[-2:]
    restored = restored[..., top : top + sh, left : left + sw]
    low, high = _local_range(filled, math.ceil(radius))
    margin = settings.range_margin * (high - low)
    low, high = low - margin, high + margin
    kept = torch.minimum(torch.maximum(restored, low), high)
    # Where the deconvolution overshot the photo's range it does not fit the disc model (an occlusion, a
    # light's bokeh): the photo is kept around there.
    overshoot = (restored - kept).abs().amax(dim=1, keepdim=True)
    doubt = dilate(overshoot, radius) / settings.overshoot_tolerance
    detail = (kept - filled) * (1.0 - doubt).clamp(0.0, 1.0)
    if factor > 1:
        detail = F.interpolate(detail, scale_factor=factor, mode="bilinear", align_corners=False)[..., :h, :w]
    return detail


def _working_image(linear: torch.Tensor, channels: str) -> tuple[torch.Tensor, float]:
    """The image deconvolved ([N,1,H,W] luminance or [N,3,H,W]) scaled to the typical level, and the scale."""
    weights = torch.tensor(LUMA, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    luminance = (linear * weights).sum(dim=1, keepdim=True)
    scale = TYPICAL_LEVEL / max(float(luminance.mean()), 1e-4)
    return (luminance if channels == "luma" else linear) * scale, scale


def deconvolve_layers_hqs(
    linear: torch.Tensor,
    disparity: torch.Tensor,
    k0_px: float,
    focus_disparity: float,
    settings: HqsLayerSettings | None = None,
) -> LayeredDeconvolution:
    """Spatially varying deconvolution: every depth layer deblurred by the disc of its radius K0 |d - d0|.

    Args:
        linear: [N,3,H,W] photo in linear light (>= 0).
        disparity: [N,1,H,W] in [0, 1].
        k0_px: the photo's blur K0, CoC radius in pixels per unit disparity.
        focus_disparity: d0, where the photo is sharp.
        settings: quality knobs.

    Returns:
        LayeredDeconvolution; its image is the input tensor itself where no pixel's radius reaches the sharp one.

    >>> out = deconvolve_layers_hqs(torch.ones(1, 3, 16, 16), torch.full((1, 1, 16, 16), 0.5), 8.0, 0.0)
    >>> out.image.shape, out.residual_radius_px.shape
    (torch.Size([1, 3, 16, 16]), torch.Size([1, 1, 16, 16]))
    """
    settings = settings or HqsLayerSettings()
    signed = (k0_px * (disparity - focus_disparity)).clamp(-settings.max_radius_px, settings.max_radius_px)
    radius = signed.abs()  # [N,1,H,W] photo blur, px
    radii = layer_radii(radius, settings.sharp_radius_px, settings.radius_ratio)
    if not radii or float(radius.max()) < settings.sharp_radius_px:
        return LayeredDeconvolution(linear, radius)
    photo_share, layers = plan_layers(
        signed,
        radii,
        sharp_radius_px=settings.sharp_radius_px,
        erode_fraction=settings.erode_fraction,
        feather_px=settings.feather_px,
    )
    work, scale = _working_image(linear, settings.channels)
    detail = torch.zeros_like(work)
    residual = radius * photo_share
    for layer in layers:
        used = layer.share * layer.trust  # [N,1,H,W]
        kept = layer.share - used
        left_over = (radius**2 - layer.radius_px**2).clamp_min(0.0).sqrt()  # under-deconvolved pixels
        residual = residual + kept * radius + used * left_over
        box = _box(used, 2 * kernel_radius_px(layer.radius_px) + settings.feather_px + 2)
        if box is None:
            continue
        window = (..., *box)
        cropped = LayerMasks(layer.radius_px, layer.share[window], layer.valid[window], layer.trust[window])
        detail[window] += used[window] * _layer_detail(work[window], cropped, settings)
    image = (linear + detail / scale).clamp_min(0.0)
    return LayeredDeconvolution(image, residual)
