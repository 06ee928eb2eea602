"""Depth from a photo's own defocus: how blurred each edge is, spread to a dense map, read as disparity.

Edge blur (a multi-scale, window-energy variant of Zhuo & Sim 2011, "Defocus map estimation from a single
image", calibrated for a disc PSF): on sRGB-encoded luminance (so bright lights do not dominate), the local
gradient energy (window mean of |grad G_sigma * I|^2) is measured at Gaussian scales sigma from 0.7 to 16 px.
Blur removes fine structure, so the energy holds up to a scale that grows with the blur and falls at once in a
sharp patch; the scale at which it halves is contrast-free and handles textures as well as isolated edges. It
is mapped to a disc CoC radius (px) by a table made numerically on disc-blurred synthetic steps. Estimates are
kept at edge maxima (non-maximum suppression of the gradient at sigma = 1 px) whose local contrast is above a
floor; that contrast sets the confidence. Blur is reported as the equivalent disc CoC radius in px.

Dense map: the confident edge estimates are spread by pull-push interpolation and then made to follow the
image's own edges by a guided filter (He et al. 2013) steered by the photo.

Depth: blur 0 is the focus plane. The sign of defocus is ambiguous (a point in front of the focus plane blurs
as much as one behind it); we assume everything lies behind the focus plane, so disparity = 1 - blur/max blur.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.colour import linear_to_srgb
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.render.pushpull import push_pull_fill

SOURCE = "defocus"
WORK_SIDE_PX = 1024
"""Blur is estimated on a copy at most this long on its long side; radii are scaled back to full size."""
SCALES_PX = tuple(0.7 * 2 ** (k / 2) for k in range(10))
"""Gaussian derivative scales sigma (px), 0.7 to 15.8 in steps of sqrt(2)."""
ENERGY_WINDOW_PX = 5
"""Side of the window over which gradient energy is averaged."""
CONTRAST_WINDOW_PX = 9
"""Side of the window whose luminance standard deviation is an edge's contrast."""

NMS_SCALE_PX = 1.0
"""Scale at which edge maxima are found."""
MAX_RADIUS_PX = 24.0
"""Largest disc radius the calibration covers (px at the working resolution); larger blur reads as this."""
RADIUS_STEPS = 49
CALIBRATION_STEP = (0.05, 0.6)
"""Linear levels of the synthetic step the radius calibration is made on (a mid-grey edge)."""
GUIDE_RADIUS_PX = 8
GUIDE_EPS = 1e-3
"""Guided-filter window radius (px) and regulariser (sRGB luminance variance) for the dense map."""
MIN_CONTRAST = 0.02
"""Local standard deviation of sRGB luminance under which an edge is ignored; full confidence from 2x this."""
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


@dataclass(frozen=True)
class EdgeBlur:
    """Blur measured at a photo's edges.

    Attributes:
        radius_px: [1,1,H,W] float32, the equivalent disc CoC radius (px) of the edge at each pixel; 0 off edges.
        confidence: [1,1,H,W] float32 in [0, 1]; nonzero only at edge maxima whose blur could be measured.
    """

    radius_px: torch.Tensor
    confidence: torch.Tensor


def encoded_luma(linear: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] linear light -> [N,1,H,W] sRGB-encoded luminance in [0, 1] (lights clip to white)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=linear.dtype, device=linear.device).view(1, 3, 1, 1)
    return linear_to_srgb((linear * weights).sum(dim=1, keepdim=True))


def _gaussian_kernels(
    sigma_px: float, *, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D Gaussian and its derivative, radius ceil(3 sigma), the Gaussian summing to 1 -> two [K] tensors."""
    radius = max(1, math.ceil(3.0 * sigma_px))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (x / sigma_px) ** 2)
    g = g / g.sum()
    dg = -x / sigma_px**2 * g
    dg = dg / (-(x * dg).sum())  # a unit ramp has derivative exactly 1
    return g.to(device=device, dtype=dtype), dg.to(device=device, dtype=dtype)


def _separable(image: torch.Tensor, kernel_y: torch.Tensor, kernel_x: torch.Tensor) -> torch.Tensor:
    """Correlate [N,1,H,W] with kernel_y along rows then kernel_x along columns, edges reflected."""
    ry, rx = kernel_y.numel() // 2, kernel_x.numel() // 2
    h, w = image.shape[-2:]
    out = F.pad(image, (0, 0, ry, ry), mode="reflect" if ry < h else "replicate")
    out = F.conv2d(out, kernel_y.view(1, 1, -1, 1))
    out = F.pad(out, (rx, rx, 0, 0), mode="reflect" if rx < w else "replicate")
    return F.conv2d(out, kernel_x.view(1, 1, 1, -1))


def gradient(image: torch.Tensor, sigma_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian-derivative gradient (d/dx, d/dy) of [N,1,H,W] at scale sigma (px), per pixel -> two [N,1,H,W]."""
    g, dg = _gaussian_kernels(sigma_px, dtype=image.dtype, device=image.device)
    return _separable(image, g, dg), _separable(image, dg, g)


def _disc_step_profile(radius_px: float, length: int) -> torch.Tensor:
    """[length] a unit step at the centre blurred by a disc of the radius (its edge spread function), pixel-averaged.

    A straight edge blurred by a disc: the line spread function is the disc's chord, 2 sqrt(r^2 - x^2) / (pi r^2);
    its integral is the edge profile. Each pixel averages 16 sub-samples.
    """
    sub = 16
    x = (torch.arange(length * sub, dtype=torch.float64) + 0.5) / sub - length / 2
    if radius_px <= 1e-6:
        esf = (x > 0).double()
    else:
        u = (x / radius_px).clamp(-1.0, 1.0)
        esf = 0.5 + (u * torch.sqrt(1 - u**2) + torch.asin(u)) / math.pi
    return esf.view(length, sub).mean(dim=1)


@functools.lru_cache(maxsize=4)
def _calibration(scales_px: tuple[float, ...], window_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-energy scale of a disc-blurred straight step, measured by `half_energy_scale` itself.

    The step, from `CALIBRATION_STEP[0]` to `[1]` in linear light, is blurred in linear light and sRGB-encoded,
    as the estimator sees a photo's edges, and measured where the estimator finds its edge maximum.

    Returns:
        (radii [M] px, half-energy scales [M] px), both increasing, float32.
    """
    radii = torch.linspace(0.0, math.sqrt(MAX_RADIUS_PX), RADIUS_STEPS) ** 2
    length = 2 * (int(MAX_RADIUS_PX) + 3 * math.ceil(max(scales_px))) + 8
    profiles = torch.stack([_disc_step_profile(radius, length) for radius in radii.tolist()]).float()  # [M,L]
    profiles = linear_to_srgb(CALIBRATION_STEP[0] + (CALIBRATION_STEP[1] - CALIBRATION_STEP[0]) * profiles)
    profiles = profiles.view(-1, 1, 1, length)
    measured = half_energy_scale(profiles, scales_px=scales_px, window_px=window_px)  # [M,1,1,L]
    peak = gradient(profiles, NMS_SCALE_PX)[0].abs().argmax(dim=-1, keepdim=True)  # where edge maxima are found
    scales = measured.gather(-1, peak).flatten()  # [M]
    return radii, torch.cummax(scales, dim=0).values


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of (xp, fp) at x, clamped to the ends; xp increasing."""
    index = torch.searchsorted(xp, x.contiguous()).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[index - 1], xp[index], fp[index - 1], fp[index]
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
    return f0 + t * (f1 - f0)


def half_energy_scale(luma: torch.Tensor, *, scales_px: tuple[float, ...], window_px: int) -> torch.Tensor:
    """The Gaussian scale (px) at which the local gradient energy falls to half its finest-scale value.

    Blur removes fine structure: in a blurred patch, smoothing at scales below the blur changes little, so the
    energy holds up to a scale that grows with the blur; in a sharp patch it falls at once. The energy at
    scale sigma is the window mean of |grad_sigma I|^2, so the measure does not depend on contrast.

    Args:
        luma: [N,1,H,W].
        scales_px: increasing Gaussian scales (px).
        window_px: odd side (px) of the averaging window.

    Returns:
        [N,1,H,W] scale in px, log-interpolated between `scales_px`; the largest scale where it never halves.
    """
    pad = window_px // 2
    energies = []
    for sigma in scales_px:
        gx, gy = gradient(luma, sigma)
        energies.append(F.avg_pool2d(F.pad(gx**2 + gy**2, (pad, pad, pad, pad), mode="replicate"), window_px, 1))
    energy = torch.cat(energies, dim=1)  # [N,S,H,W]
    ratio = (energy / energy[:, :1].clamp_min(1e-12)).clamp_min(1e-9).log()  # log E(sigma) / E(sigma_0)
    log_scales = torch.tensor(scales_px, dtype=luma.dtype, device=luma.device).log().view(1, -1, 1, 1)
    below = ratio < math.log(0.5)
    first = torch.where(below.any(dim=1, keepdim=True), below.float().argmax(dim=1, keepdim=True), len(scales_px) - 1)
    first = first.clamp_min(1)
    r0, r1 = ratio.gather(1, first - 1), ratio.gather(1, first)
    s0, s1 = log_scales.expand_as(ratio).gather(1, first - 1), log_scales.expand_as(ratio).gather(1, first)
    t = ((math.log(0.5) - r0) / (r1 - r0).clamp(max=-1e-9)).clamp(0.0, 1.0)
    return (s0 + t * (s1 - s0)).exp()


def _edge_maxima(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """[N,1,H,W] bool: pixels whose gradient magnitude is a maximum along the gradient direction (4 directions)."""
    magnitude = torch.hypot(gx, gy)
    padded = F.pad(magnitude, (1, 1, 1, 1), mode="replicate")
    h, w = magnitude.shape[-2:]

    def at(dy: int, dx: int) -> torch.Tensor:
        return padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    angle = torch.atan2(gy, gx) % math.pi  # [0, pi)
    sector = torch.round(angle / (math.pi / 4)).long() % 4  # 0: x, 1: diagonal, 2: y, 3: anti-diagonal
    neighbours = (((0, 1), (0, -1)), ((1, 1), (-1, -1)), ((1, 0), (-1, 0)), ((1, -1), (-1, 1)))
    is_max = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, (a, b) in enumerate(neighbours):
        local = (magnitude >= at(*a)) & (magnitude > at(*b))
        is_max |= (sector == index) & local
    return is_max


def estimate_edge_blur(linear: torch.Tensor) -> EdgeBlur:
    """Blur at the edges of a photo, as the disc CoC radius whose step has the same half-energy scale.

    Args:
        linear: [1,3,H,W] linear light, values >= 0. Photos longer than `WORK_SIDE_PX` are measured on a
            downscaled copy and the radii scaled back.

    Returns:
        `EdgeBlur`: radius_px, the equivalent disc CoC radius in px at the input's resolution (0 off edges), and
        confidence in [0, 1], nonzero only at edge maxima with local contrast; both [1,1,H,W] float32.

    >>> blur = estimate_edge_blur(torch.rand(1, 3, 32, 48))
    >>> blur.radius_px.shape, blur.confidence.shape
    (torch.Size([1, 1, 32, 48]), torch.Size([1, 1, 32, 48]))
    """
    h, w = linear.shape[-2:]
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    small = F.interpolate(linear.float(), scale_factor=scale, mode="area") if scale < 1 else linear.float()
    luma = encoded_luma(small)  # [1,1,h,w] in [0, 1]
    gx, gy = gradient(luma, NMS_SCALE_PX)
    edges = _edge_maxima(gx, gy)  # [1,1,h,w] bool
    contrast = _local_std(luma, CONTRAST_WINDOW_PX)  # [1,1,h,w] sRGB units
    confidence = edges * ((contrast - MIN_CONTRAST) / MIN_CONTRAST).clamp(0.0, 1.0)
    half_scale = half_energy_scale(luma, scales_px=SCALES_PX, window_px=ENERGY_WINDOW_PX)  # [1,1,h,w] px
    radii, calibrated_scales = _calibration(SCALES_PX, ENERGY_WINDOW_PX)
    radius = _interp(half_scale, calibrated_scales, radii) * (confidence > 0)  # [1,1,h,w] px
    if scale < 1:
        radius = F.interpolate(radius, size=(h, w), mode="nearest") / scale
        confidence = F.interpolate(confidence, size=(h, w), mode="nearest")
    return EdgeBlur(radius.float(), confidence.float())


def _local_std(image: torch.Tensor, window_px: int) -> torch.Tensor:
    """[N,1,H,W] standard deviation over an odd square window, edges replicated."""
    pad = window_px // 2
    padded = F.pad(image, (pad, pad, pad, pad), mode="replicate")
    mean = F.avg_pool2d(padded, window_px, 1)
    return (F.avg_pool2d(padded**2, window_px, 1) - mean**2).clamp_min(0.0).sqrt()


def _box(image: torch.Tensor, radius_px: int) -> torch.Tensor:
    """Mean of [N,C,H,W] over a (2r+1)^2 window, edges replicated, in O(1) per pixel (cumulative sums)."""
    size = 2 * radius_px + 1
    padded = F.pad(image, (radius_px + 1, radius_px, radius_px + 1, radius_px), mode="replicate").double()
    padded[..., 0, :] = 0
    padded[..., :, 0] = 0
    table = padded.cumsum(-1).cumsum(-2)
    total = (
        table[..., size:, size:] - table[..., :-size, size:] - table[..., size:, :-size] + table[..., :-size, :-size]
    )
    return (total / size**2).to(image.dtype)


def guided_filter(guide: torch.Tensor, source: torch.Tensor, *, radius_px: int, eps: float) -> torch.Tensor:
    """Guided filter (He, Sun and Tang 2013): `source` smoothed so that its edges follow the guide's.

    Args:
        guide: [N,1,H,W] grey guide.
        source: [N,C,H,W] values to filter.
        radius_px: window radius (px).
        eps: regulariser in the guide's units squared; larger smooths across weaker guide edges.

    Returns:
        [N,C,H,W]: per window, the linear function of the guide closest to the source, averaged.
    """
    mean_i, mean_p = _box(guide, radius_px), _box(source, radius_px)
    cov_ip = _box(guide * source, radius_px) - mean_i * mean_p
    var_i = _box(guide * guide, radius_px) - mean_i * mean_i
    a = cov_ip / (var_i.clamp_min(0.0) + eps)
    b = mean_p - a * mean_i
    return _box(a, radius_px) * guide + _box(b, radius_px)


def dense_defocus_map(edge_blur: EdgeBlur, guide_linear: torch.Tensor) -> torch.Tensor:
    """Spread edge blur estimates to every pixel, following the photo's edges.

    The confident edge radii are filled in by pull-push interpolation (confidence-weighted, so weak edges give
    way to strong ones), then a guided filter steered by the photo's encoded luminance snaps the map to the
    photo's own edges. Large photos are filled on a copy at most `WORK_SIDE_PX` long and the map is brought back
    by a guided filter at full size.

    Args:
        edge_blur: from `estimate_edge_blur`, [1,1,H,W] each.
        guide_linear: [1,3,H,W] the photo, linear light.

    Returns:
        [1,1,H,W] float32 blur radius (px, equivalent disc CoC), >= 0; constant where no edge was confident.
    """
    h, w = guide_linear.shape[-2:]
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    small_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    radius = edge_blur.radius_px.float()
    confidence = edge_blur.confidence.float()
    if scale < 1:
        radius = F.adaptive_max_pool2d(radius * (confidence > 0), small_hw)
        confidence = F.adaptive_max_pool2d(confidence, small_hw)
    if float(confidence.max()) <= 0:
        return torch.zeros(1, 1, h, w, dtype=torch.float32, device=guide_linear.device)
    levels = max(1, math.ceil(math.log2(max(small_hw))))
    filled = push_pull_fill(radius, confidence, levels=levels)  # [1,1,h,w] px
    small_guide = F.interpolate(guide_linear.float(), size=small_hw, mode="area") if scale < 1 else guide_linear
    dense = guided_filter(encoded_luma(small_guide.float()), filled, radius_px=GUIDE_RADIUS_PX, eps=GUIDE_EPS)
    if scale < 1:
        dense = F.interpolate(dense, size=(h, w), mode="bilinear", align_corners=False)
        radius_full = max(1, round(GUIDE_RADIUS_PX / scale / 4))
        dense = guided_filter(encoded_luma(guide_linear.float()), dense, radius_px=radius_full, eps=GUIDE_EPS)
    return dense.clamp_min(0.0).float()


def defocus_depth(
    linear: torch.Tensor, focus_xy: tuple[float, float] | None = None, edge_blur: EdgeBlur | None = None
) -> DepthMap:
    """Disparity from the photo's own defocus: the sharpest region nearest, more blur farther away.

    The sign of defocus cannot be read from blur alone (a point in front of the focus plane blurs like one behind
    it), so everything is assumed to lie behind the focus plane: blur b relative to the focus blur b_f maps to
    disparity 1 - max(b - b_f, 0) / max(b - b_f). b_f is the median blur within 2% of the frame around
    `focus_xy` (x, y in px, origin top-left), or the 2nd percentile of the map without a focus point. A map
    without blur differences (a flat photo) is one plane at 0.5.

    Args:
        linear: [1,3,H,W] linear light.
        focus_xy: the focused point, or None.
        edge_blur: `estimate_edge_blur(linear)` when already computed.

    Returns:
        `DepthMap` with disparity [1,1,H,W] float32 in [0, 1], no metric depth, source "defocus".

    >>> defocus_depth(torch.rand(1, 3, 24, 32), (16.0, 12.0)).disparity.shape
    torch.Size([1, 1, 24, 32])
    """
    edges = estimate_edge_blur(linear) if edge_blur is None else edge_blur
    dense = dense_defocus_map(edges, linear)[0, 0]  # [H,W] px
    h, w = dense.shape
    if focus_xy is None:
        focus_blur = float(torch.quantile(dense.flatten()[:: max(1, dense.numel() // 100_000)], 0.02))
    else:
        x = min(max(round(focus_xy[0]), 0), w - 1)
        y = min(max(round(focus_xy[1]), 0), h - 1)
        half = max(1, round(0.02 * max(h, w)))
        focus_blur = float(dense[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1].median())
    relative = (dense - focus_blur).clamp_min(0.0)
    top = float(relative.max())
    disparity = torch.full_like(dense, 0.5) if top <= 1e-3 else 1.0 - relative / top
    return DepthMap(disparity=disparity[None, None].float().clamp(0.0, 1.0), metric_depth_m=None, source=SOURCE)
