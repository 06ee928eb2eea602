"""Depth layers for restore: which radius each pixel is deconvolved with, and where a deconvolution is trusted.

The photo's blur radius ``rho = K0 |d - d0|`` is cut at radii about a constant ratio apart (so large radii,
where a step matters less, get fewer layers), each at the median radius of its pixels; each pixel shares its
weight between the two radii around its own, tent shaped in log radius, and pixels under the sharp radius keep
the photo.  A pixel is a disc blur of its own surface only where

* no nearer surface's blur reaches it (at an occlusion the nearer blur spreads over it: a mixture, not a
  convolution), and
* its own surface covers its disc (near its own edge the blur mixes in what lies behind).

So each signed layer's *valid* pixels are the ones of about its radius, less the fraction of them that nearer
layers' blur covers (soft), and it is *trusted* there except within a fraction of its radius of anything
farther, feathered; elsewhere the photo stays.  Masks are filtered at a reduced resolution (they are soft).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LayerMasks:
    """One radius of the deconvolution and its masks, all [N,1,H,W] in [0, 1].

    Attributes:
        radius_px: the disc radius this layer is deconvolved with.
        share: each pixel's share of its output taken from this radius (the shares of all layers and the
            photo sum to 1).
        valid: pixels whose value is this radius's blur alone (the data the deconvolution may use).
        trust: how far the deconvolution is trusted (valid, eroded and feathered).
    """

    radius_px: float
    share: torch.Tensor
    valid: torch.Tensor
    trust: torch.Tensor


def layer_radii(
    radius_px: torch.Tensor, sharp_radius_px: float, ratio: float, *, min_share: float = 1e-3
) -> list[float]:
    """Layer radii for a photo's blur radius map: one per geometric bin ``[s r^k, s r^(k+1))`` above the sharp
    radius s that holds at least `min_share` of the pixels, at the median radius of its pixels (so a depth
    plane's radius is deconvolved exactly, and a ramp gets radii about a ratio apart).

    Args:
        radius_px: [N,1,H,W] blur radius per pixel, >= 0.
        sharp_radius_px: radii up to this need no layer.
        ratio: width of a bin, as the ratio of its ends (> 1).
        min_share: bins holding fewer of the pixels get no radius of their own.

    Returns:
        Increasing radii, each above `sharp_radius_px` (empty when no pixel is blurred beyond it).

    >>> layer_radii(torch.tensor([0.5, 3.0, 3.0, 7.0, 7.5]), 1.0, 1.5)
    [3.0, 7.0]
    """
    values = radius_px.detach().flatten()
    values = values[:: max(1, values.numel() // 262144)]  # a quarter megapixel is plenty for medians
    blurred = values[values > sharp_radius_px]
    if blurred.numel() == 0:
        return []
    bins = torch.floor(torch.log(blurred / sharp_radius_px) / math.log(ratio)).long()
    radii = []
    for k in torch.unique(bins).tolist():
        members = blurred[bins == k]
        if members.numel() >= min_share * values.numel():
            radii.append(float(members.median()))
    return radii


def radius_shares(radius_px: torch.Tensor, radii: list[float], sharp_radius_px: float) -> list[torch.Tensor]:
    """Each pixel's share of [photo, radii...]: tents in log radius between neighbouring radii, linear from the
    photo (below `sharp_radius_px`) to the first radius; past the last radius all on the last.

    Args:
        radius_px: [N,1,H,W] photo blur radius per pixel (>= 0).
        radii: the layers' radii, increasing, the first above `sharp_radius_px`.
        sharp_radius_px: radii up to this keep the photo.

    Returns:
        len(radii) + 1 tensors [N,1,H,W] that sum to 1.
    """
    if not radii:
        return [torch.ones_like(radius_px)]
    knots = [sharp_radius_px, *radii]
    log_r = radius_px.clamp_min(1e-6).log()
    shares = []
    for i, knot in enumerate(knots):
        if i == 0:
            lower = torch.zeros_like(radius_px)
        else:
            left = knots[i - 1]
            span = math.log(knot / left) if i > 1 else knot - left
            position = (log_r - math.log(left)) / span if i > 1 else (radius_px - left) / span
            lower = position.clamp(0.0, 1.0)
        if i + 1 < len(knots):
            right = knots[i + 1]
            span = math.log(right / knot) if i > 0 else right - knot
            position = (log_r - math.log(knot)) / span if i > 0 else (radius_px - knot) / span
            upper = 1.0 - position.clamp(0.0, 1.0)
        else:
            upper = torch.ones_like(radius_px)
        below = radius_px <= knot
        shares.append(torch.where(below, lower if i > 0 else torch.ones_like(lower), upper))
    return shares


def dilate(mask: torch.Tensor, radius_px: float) -> torch.Tensor:
    """Max-filter [N,1,H,W] over a square of half-width `radius_px`, at 1/f resolution for big radii."""
    reach = math.ceil(radius_px)
    if reach <= 0:
        return mask
    h, w = mask.shape[-2:]
    factor = max(1, reach // 6)
    small = F.max_pool2d(mask, factor, ceil_mode=True) if factor > 1 else mask
    steps = math.ceil(reach / factor)
    size = 2 * steps + 1
    grown = F.max_pool2d(F.pad(small, (0, 0, steps, steps)), (size, 1), stride=1)
    grown = F.max_pool2d(F.pad(grown, (steps, steps, 0, 0)), (1, size), stride=1)
    if factor > 1:
        grown = F.interpolate(grown, scale_factor=factor, mode="nearest")[..., :h, :w]
    return grown


def spread(mask: torch.Tensor, radius_px: float) -> torch.Tensor:
    """How much of a [N,1,H,W] mask a box of half-width `radius_px` around each pixel holds (a disc blur's
    reach, roughly), computed at 1/f resolution for big radii."""
    reach = math.ceil(radius_px)
    if reach <= 0:
        return mask
    h, w = mask.shape[-2:]
    factor = max(1, reach // 4)
    small = F.avg_pool2d(mask, factor, ceil_mode=True) if factor > 1 else mask
    steps = math.ceil(reach / factor)
    size = 2 * steps + 1
    spread_out = F.avg_pool2d(F.pad(small, [steps] * 4, mode="replicate"), size, stride=1)
    if factor > 1:
        spread_out = F.interpolate(spread_out, scale_factor=factor, mode="bilinear", align_corners=False)[..., :h, :w]
    return spread_out


def feather(mask: torch.Tensor, radius_px: int) -> torch.Tensor:
    """Box-average [N,1,H,W] over (2r+1)^2, edges extended: a soft edge `radius_px` wide."""
    if radius_px <= 0:
        return mask
    size = 2 * radius_px + 1
    padded = F.pad(mask, [radius_px] * 4, mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)


def plan_layers(
    signed_radius_px: torch.Tensor,
    radii: list[float],
    *,
    sharp_radius_px: float,
    erode_fraction: float,
    feather_px: int,
    spill_weight: float = 3.0,
) -> tuple[torch.Tensor, list[LayerMasks]]:
    """The photo's share and every radius's masks, from the photo's signed blur radius map.

    Args:
        signed_radius_px: [N,1,H,W] K0 (d - d0), pixels; positive = nearer than the photo's focus.
        radii: the layers' radii (see `layer_radii`).
        sharp_radius_px: radii up to this keep the photo.
        erode_fraction: trust keeps this fraction of a layer's radius away from the edge of its valid pixels.
        feather_px: width of the soft edge of trust.
        spill_weight: a pixel covered by a nearer layer's blur to a fraction c is valid to 1 - c * this.

    Returns:
        (photo share [N,1,H,W], one LayerMasks per radius).
    """
    radius = signed_radius_px.abs()
    shares = radius_shares(radius, radii, sharp_radius_px)
    knots = [0.0, *radii]
    # Signed layers nearest first: +R_last ... +R_1, the photo's own focus, -R_1 ... -R_last.
    order = [(1.0, j) for j in range(len(radii), 0, -1)] + [(0.0, 0)] + [(-1.0, j) for j in range(1, len(radii) + 1)]
    # How much nearer layers' blur covers each pixel; the layer just before (one step nearer) is left out: a
    # step of one radius ratio is a smooth surface as often as an occlusion, and its blur differs little.
    spill = torch.zeros_like(radius)
    last_reach = torch.zeros_like(radius)
    valid = [torch.zeros_like(radius) for _ in radii]
    trust = [torch.zeros_like(radius) for _ in radii]
    for side, j in order:
        on_side = signed_radius_px > 0 if side > 0 else signed_radius_px < 0
        if j == 0:
            on_side = torch.ones_like(on_side)
        core = ((shares[j] >= 0.5) & on_side).to(radius.dtype)  # the pixels nearest to this layer's radius
        if j > 0 and float((shares[j] * on_side).max()) > 0:
            low, high = knots[j - 1], knots[j + 1] if j + 1 < len(knots) else math.inf
            alike = ((radius >= low) & (radius <= high) & on_side).to(radius.dtype)
            clean = alike * (1.0 - spill_weight * spill).clamp(0.0, 1.0)
            valid[j - 1] = torch.maximum(valid[j - 1], clean)
            farther = signed_radius_px < low if side > 0 else signed_radius_px < -high
            eroded = clean * (1.0 - dilate(farther.to(radius.dtype), erode_fraction * knots[j]))
            trust[j - 1] = torch.maximum(trust[j - 1], feather(eroded, feather_px) * eroded.ceil())
        spill = spill + last_reach
        last_reach = spread(core, knots[j]) if j > 0 else torch.zeros_like(radius)
    layers = [LayerMasks(r, shares[j + 1], valid[j], trust[j]) for j, r in enumerate(radii)]
    return shares[0], layers
