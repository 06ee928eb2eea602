"""Non-blind deconvolution of defocus blur: one disc PSF per depth layer, layers blended with soft masks.

The disparity range is cut into layers whose radii ``|r| = K0 * |d - d0|`` lie at most a step apart.  Each
layer is deconvolved by its disc with conjugate gradients on ``min_x |M (k * x - y)|^2 + lambda |grad x|^2``,
where the data mask M keeps only the pixels that are this layer's blur alone: the disc around the pixel lies
on the layer, and no nearer layer's blur reaches it (occlusion edges do not follow a convolution, and forcing
them makes waves).  The result is trusted where M was 1 and fades to the photo toward the layer's edges; each
pixel takes the layers its disparity lies between, linearly, feathered over a few pixels.  Layers blurred
under ``sharp_radius_px`` keep the photo.  Work is done in each layer's bounding box, edge-extended by the
kernel's reach and padded to FFT-friendly sizes, so nothing wraps around.

`wiener_deconvolve` is the one-radius, whole-frame closed form (a mirrored periodic frame, no border ringing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.aperture import aperture_kernel, kernel_radius_px
from refocus_cli.errors import SettingsError
from refocus_cli.restore.hqs import fast_length


@dataclass(frozen=True)
class DeconvolveSettings:
    """Knobs of the layered deconvolution.

    Attributes:
        prior_weight: lambda of the gradient prior, relative to a unit-sum kernel (bigger = smoother, less
            ringing, less detail back).
        sharp_radius_px: layers blurred less than this keep the photo's pixels untouched.
        radius_step_px: largest gap between the radii of neighbouring layers.
        max_layers: most layers the disparity range is cut into.
        iterations: conjugate-gradient steps per layer.
        feather_px: half-width of the box that softens layer masks.
        max_radius_px: radii are clamped to this.
    """

    prior_weight: float = 1e-4
    sharp_radius_px: float = 1.0
    radius_step_px: float = 0.5
    feather_px: int = 2
    max_radius_px: float = 64.0
    max_layers: int = 48
    iterations: int = 100

    def __post_init__(self) -> None:
        if not self.prior_weight > 0:
            raise SettingsError(f"restore prior weight must be positive, got {self.prior_weight}")
        if not self.radius_step_px > 0:
            raise SettingsError(f"restore radius step must be positive, got {self.radius_step_px}")


def _periodic_extension(image: torch.Tensor, pad_px: int) -> torch.Tensor:
    """[N,C,H,W] -> [N,C,2(H+2p),2(W+2p)]: edges extended by p, then mirrored into a periodic frame."""
    extended = F.pad(image, (pad_px, pad_px, pad_px, pad_px), mode="replicate")
    wide = torch.cat((extended, extended.flip(-1)), dim=-1)
    return torch.cat((wide, wide.flip(-2)), dim=-2)


def _otf(kernel: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """rfft2 of a centred [k,k] kernel placed with its centre at the origin of an H x W frame."""
    h, w = size_hw
    half = kernel.shape[-1] // 2
    frame = torch.zeros(h, w, dtype=kernel.dtype, device=kernel.device)
    frame[: kernel.shape[0], : kernel.shape[1]] = kernel
    frame = torch.roll(frame, shifts=(-half, -half), dims=(0, 1))
    return torch.fft.rfft2(frame)


def _gradient_power(size_hw: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """|Dx|^2 + |Dy|^2 of forward differences on an H x W frame, rfft2 layout."""
    h, w = size_hw
    fy = torch.fft.fftfreq(h, dtype=like.dtype, device=like.device).view(h, 1)
    fx = torch.fft.rfftfreq(w, dtype=like.dtype, device=like.device).view(1, -1)
    return (2 - 2 * torch.cos(2 * math.pi * fy)) + (2 - 2 * torch.cos(2 * math.pi * fx))


def wiener_deconvolve(image: torch.Tensor, radius_px: float, *, prior_weight: float = 2e-3) -> torch.Tensor:
    """Undo a disc blur of one radius over the whole image (Wiener filter with a gradient prior).

    Args:
        image: [N,C,H,W], blurred by the disc of `radius_px` (linear light).
        radius_px: CoC radius in pixels (the sign is ignored: a disc is symmetric).
        prior_weight: lambda of the gradient prior.

    Returns:
        [N,C,H,W] deconvolved, not clamped.

    >>> wiener_deconvolve(torch.ones(1, 3, 8, 8), 2.0).shape
    torch.Size([1, 3, 8, 8])
    """
    return _deconvolve_many(image, [abs(radius_px)], prior_weight)[0]


def _deconvolve_many(image: torch.Tensor, radii_px: list[float], prior_weight: float) -> list[torch.Tensor]:
    """Wiener-deconvolve one image with each radius, sharing the forward transform."""
    h, w = image.shape[-2:]
    pad = max(kernel_radius_px(r) for r in radii_px) + 2
    periodic = _periodic_extension(image, pad)
    size = (periodic.shape[-2], periodic.shape[-1])
    spectrum = torch.fft.rfft2(periodic)
    prior = prior_weight * _gradient_power(size, image)
    results = []
    for radius in radii_px:
        if radius == 0:
            results.append(image)
            continue
        otf = _otf(aperture_kernel(radius, device=image.device, dtype=image.dtype), size)
        restored = torch.fft.irfft2(spectrum * otf.conj() / (otf.abs() ** 2 + prior), s=size)
        results.append(restored[..., pad : pad + h, pad : pad + w])
    return results


def _dilate(mask: torch.Tensor, radius_px: int) -> torch.Tensor:
    """Square max-filter [N,1,H,W] by `radius_px` (separable), edges not extended."""
    if radius_px <= 0:
        return mask
    size = 2 * radius_px + 1
    rows = F.max_pool2d(F.pad(mask, (0, 0, radius_px, radius_px)), (size, 1), stride=1)
    return F.max_pool2d(F.pad(rows, (radius_px, radius_px, 0, 0)), (1, size), stride=1)


def _feather(weight: torch.Tensor, feather_px: int) -> torch.Tensor:
    if feather_px <= 0:
        return weight
    size = 2 * feather_px + 1
    padded = F.pad(weight, [feather_px] * 4, mode="replicate")
    return F.avg_pool2d(padded, size, stride=1, count_include_pad=False)


@dataclass(frozen=True)
class _Layer:
    """One deconvolution layer: its disc radius and the pixels it owns (soft) and may trust (data mask)."""

    radius_px: float
    weight: torch.Tensor  # [N,1,H,W] share of each pixel's output taken from this layer
    data_mask: torch.Tensor  # [N,1,H,W] pixels whose value is this layer's blur alone


def _layers(
    disparity: torch.Tensor, k0_px: float, focus_disparity: float, settings: DeconvolveSettings
) -> list[_Layer]:
    """Cut the disparity range into layers whose radii lie at most a step apart, nearest first.

    A pixel's value is one disc's blur alone where every pixel of its footprint (the disc around it) has about
    that radius (within `_radius_tolerance`) and no nearer pixel with a clearly larger blur reaches it: only
    such pixels enter the layer's data term. On a smooth depth ramp that is most of the ramp; at an occlusion
    it leaves out the band the nearer object's blur covers.
    """
    low, high = float(disparity.min()), float(disparity.max())
    steps = min(settings.max_layers - 1, math.ceil((high - low) * k0_px / settings.radius_step_px))
    if steps <= 0:
        return [
            _Layer(
                min(abs(k0_px * (high - focus_disparity)), settings.max_radius_px),
                torch.ones_like(disparity),
                torch.ones_like(disparity),
            )
        ]
    radius_map = (k0_px * (disparity - focus_disparity)).abs().clamp_max(settings.max_radius_px)
    gap = (high - low) / steps
    result = []
    nearer: list[tuple[float, torch.Tensor]] = []  # (radius, where its blur reaches) of each nearer layer
    for centre in torch.linspace(high, low, steps + 1).tolist():
        weight = (1.0 - (disparity - centre).abs() / gap).clamp_min(0.0)
        if float(weight.max()) == 0:
            continue
        radius = min(abs(k0_px * (centre - focus_disparity)), settings.max_radius_px)
        tolerance = _radius_tolerance(radius, settings)
        reach = math.ceil(radius)
        alike = ((radius_map - radius).abs() <= tolerance).to(disparity.dtype)
        uniform = 1.0 - _dilate(1.0 - alike, reach)  # the whole footprint has about this radius
        spill = torch.zeros_like(disparity)
        for nearer_radius, reached in nearer:
            if nearer_radius > radius + tolerance:
                spill = torch.maximum(spill, reached)
        result.append(_Layer(radius, _feather(weight, settings.feather_px), uniform * (1.0 - spill)))
        nearer.append((radius, _dilate((weight > 0).to(disparity.dtype), reach)))
    return result


def _radius_tolerance(radius_px: float, settings: DeconvolveSettings) -> float:
    """How far a pixel's blur radius may be from a layer's for its blur to count as that layer's disc."""
    return max(settings.radius_step_px, 0.1 * radius_px)


def masked_deconvolve(
    image: torch.Tensor, radius_px: float, data_mask: torch.Tensor, *, prior_weight: float, iterations: int
) -> torch.Tensor:
    """Deconvolve a disc blur using only the pixels in `data_mask` (conjugate gradients).

    Solves ``min_x |M (k * x - y)|^2 + lambda |grad x|^2`` from x = y; elsewhere x follows the prior.

    Args:
        image: [N,C,H,W] blurred photo y.
        radius_px: disc radius, pixels.
        data_mask: [N,1,H,W] in [0, 1], where y is trusted.
        prior_weight: lambda.
        iterations: conjugate-gradient steps (fewer = smoother).

    Returns:
        [N,C,H,W], not clamped.
    """
    h, w = image.shape[-2:]
    pad = kernel_radius_px(radius_px) + 2
    extra_h, extra_w = fast_length(h + 2 * pad) - h - 2 * pad, fast_length(w + 2 * pad) - w - 2 * pad
    y = F.pad(image, (pad, pad + extra_w, pad, pad + extra_h), mode="replicate")
    mask = F.pad(data_mask, (pad, pad + extra_w, pad, pad + extra_h))
    size = (y.shape[-2], y.shape[-1])
    otf = _otf(aperture_kernel(radius_px, device=image.device, dtype=image.dtype), size)
    prior = prior_weight * _gradient_power(size, image)

    def normal(x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(x)
        blurred = torch.fft.irfft2(spectrum * otf, s=size)
        back = torch.fft.rfft2(mask * blurred) * otf.conj()
        return torch.fft.irfft2(back + prior * spectrum, s=size)

    b = torch.fft.irfft2(torch.fft.rfft2(mask * y) * otf.conj(), s=size)
    x = y.clone()
    residual = b - normal(x)
    direction = residual.clone()
    rs = (residual * residual).sum(dim=(-2, -1), keepdim=True)
    for _ in range(iterations):
        applied = normal(direction)
        step = rs / (direction * applied).sum(dim=(-2, -1), keepdim=True).clamp_min(1e-20)
        x = x + step * direction
        residual = residual - step * applied
        rs_new = (residual * residual).sum(dim=(-2, -1), keepdim=True)
        direction = residual + (rs_new / rs.clamp_min(1e-20)) * direction
        rs = rs_new
    return x[..., pad : pad + h, pad : pad + w]


def _deconvolve_layer(linear: torch.Tensor, layer: _Layer, settings: DeconvolveSettings) -> torch.Tensor:
    """The photo with this layer's pixels deconvolved; the work is done in the layer's bounding box only.

    The deconvolution is trusted where the layer's data term was used; toward its edges it fades to the photo.
    """
    restored = linear.clone()
    rows = layer.weight.amax(dim=(0, 1, 3)).nonzero().flatten()
    cols = layer.weight.amax(dim=(0, 1, 2)).nonzero().flatten()
    if rows.numel() == 0:
        return restored
    margin = 2 * kernel_radius_px(layer.radius_px) + settings.feather_px + 2
    h, w = linear.shape[-2:]
    top, bottom = max(0, int(rows[0]) - margin), min(h, int(rows[-1]) + 1 + margin)
    left, right = max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + 1 + margin)
    window = (..., slice(top, bottom), slice(left, right))
    crop = linear[window]
    deblurred = masked_deconvolve(
        crop,
        layer.radius_px,
        layer.data_mask[window],
        prior_weight=settings.prior_weight,
        iterations=settings.iterations,
    )
    trust = _feather(layer.data_mask, settings.feather_px)[window]
    restored[window] = crop + trust * (deblurred - crop)
    return restored


def deconvolve_layers(
    linear: torch.Tensor,
    disparity: torch.Tensor,
    k0_px: float,
    focus_disparity: float,
    settings: DeconvolveSettings | None = None,
) -> torch.Tensor:
    """Spatially varying deconvolution: every depth layer deblurred by the disc of its radius K0 |d - d0|.

    Args:
        linear: [N,3,H,W] photo in linear light (>= 0).
        disparity: [N,1,H,W] in [0, 1].
        k0_px: the photo's blur K0, CoC radius in pixels per unit disparity.
        focus_disparity: d0, where the photo is sharp.
        settings: quality knobs.

    Returns:
        [N,3,H,W] linear light >= 0; pixels whose layers are all under `sharp_radius_px` keep the photo.

    >>> deconvolve_layers(torch.ones(1, 3, 16, 16), torch.full((1, 1, 16, 16), 0.5), 8.0, 0.0).shape
    torch.Size([1, 3, 16, 16])
    """
    settings = settings or DeconvolveSettings()
    layers = _layers(disparity, k0_px, focus_disparity, settings)
    if all(layer.radius_px < settings.sharp_radius_px for layer in layers):
        return linear
    out = torch.zeros_like(linear)
    total = torch.zeros_like(disparity)
    for layer in layers:
        sharp = layer.radius_px < settings.sharp_radius_px
        restored = linear if sharp else _deconvolve_layer(linear, layer, settings)
        out = out + layer.weight * restored
        total = total + layer.weight
    return (out / total.clamp_min(1e-6)).clamp_min(0.0)
