"""Measure how well each blur radius explains each depth layer of a photo, from the spectra of its patches.

A disc blur of radius r multiplies the spectrum by the Airy pattern ``(2 J1(2 pi f r) / (2 pi f r))^2``: rings
of zeros at ``f ~ 0.61 / r, 1.12 / r, ...`` cycles per pixel.  The photo's luminance is cut into Hann-windowed
patches on a dense grid; a patch counts only where the disparity is nearly constant over it and a margin
around it (so no depth edge, whose two sides blur differently, lies in it).  The kept patches are grouped by
their mean disparity into bins; each bin's mean log power spectrum (every patch normalised to unit power, so
contrast does not weigh) is compared with the log periodogram of disc-blurred white noise under the same
window for every candidate radius, once a smooth, isotropic spectrum of the unknown scene (a quadratic in
log frequency) is taken out; the median absolute misfit over frequencies is the radius's score (the line
spectra of regular textures are outliers to it).  The scores of every bin, not just each bin's best radius,
feed the joint fit of `restore.fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from refocus_cli.aperture import aperture_kernel

LUMA = (0.2126, 0.7152, 0.0722)
PATCH_PX = 32
"""Side of the patches whose spectra are measured (px at the working resolution)."""
STRIDE_PX = 8
"""Patches start this far apart."""
MARGIN_PX = 4
"""A patch's disparity is checked over it and this margin around it."""
FLAT_DISPARITY = 0.1
"""Largest disparity range over a patch and its margin for the patch to count (a depth edge exceeds it)."""
NOISE_FLOORS = (1e-7, 1e-5, 1e-4, 1e-3)
"""Flat noise floors (a share of a patch's mean power) the templates are tried with: sensor noise, JPEG and
rendering noise fill the spectrum where the blur has emptied it."""
BAND = (1.5, 0.45)
"""Frequencies scored: from this many cycles per patch to this many cycles per pixel."""


@dataclass(frozen=True)
class LayerBlur:
    """Blur evidence per disparity bin.

    Attributes:
        disparity: [B] mean disparity of each bin's patches.
        radius_px: [B] the best-scoring radius of each bin, pixels at the measured resolution.
        confidence: [B] >= 0, how clearly the best radius wins, times the bin's size (0 = no patch).
        candidate_radii_px: [R] radii that were scored, pixels at the measured resolution.
        scores: [B,R] misfit of each candidate (lower is better; inf where unmeasured).
        patches: [B] patches behind each bin (0 = unmeasured).
    """

    disparity: torch.Tensor
    radius_px: torch.Tensor
    confidence: torch.Tensor
    candidate_radii_px: torch.Tensor
    scores: torch.Tensor
    patches: torch.Tensor


def candidate_radii(max_radius_px: float) -> list[float]:
    """Radii to score: 0.25 px apart near 0, then 4 % apart.

    >>> candidate_radii(1.0)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    radii = [0.0]
    while radii[-1] < max_radius_px - 1e-9:
        radii.append(min(max_radius_px, radii[-1] + max(0.25, 0.04 * radii[-1])))
    return radii


def _hann2d(size: int) -> torch.Tensor:
    window = torch.hann_window(size, periodic=False, dtype=torch.float64)
    return window[:, None] * window[None, :]


def _autocorrelation(image: torch.Tensor, max_lag: int) -> torch.Tensor:
    """[2L+1, 2L+1] linear autocorrelation of a square [k,k] image at lags -L..L (zero lag at the centre)."""
    size = image.shape[-1] + max_lag + 1
    spectrum = torch.fft.rfft2(image, s=(size, size))
    circular = torch.fft.irfft2(spectrum.abs() ** 2, s=(size, size))  # equals the linear one for |lag| <= L
    lags = torch.arange(-max_lag, max_lag + 1) % size
    return circular[lags][:, lags]


@lru_cache(maxsize=8)
def _periodograms(size: int, radii: tuple[float, ...]) -> torch.Tensor:
    """[R, size, size] expected periodogram of disc-blurred white noise under a Hann window, unit mean.

    E|FFT(w (k * n))|^2 = FFT over lags of R_w(tau) R_k(tau), the lags folded modulo the patch size.
    """
    lag = size - 1
    r_w = _autocorrelation(_hann2d(size), lag)  # [2P-1, 2P-1]
    fold = (torch.arange(-lag, lag + 1) % size).long()
    templates = []
    for radius in radii:
        product = r_w * _autocorrelation(aperture_kernel(radius, dtype=torch.float64), lag)
        folded = torch.zeros(size, 2 * lag + 1, dtype=torch.float64).index_add_(0, fold, product)
        folded = torch.zeros(size, size, dtype=torch.float64).index_add_(1, fold, folded)
        power = torch.fft.fft2(folded).real.clamp_min(0.0)
        templates.append(power / power.mean())
    return torch.stack(templates)


def _band(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The scored frequencies of a [size,size] spectrum (bool mask) and the projector [F,F] that removes a
    smooth, isotropic scene spectrum (a quadratic in log frequency) from a log spectrum on them."""
    freq = torch.fft.fftfreq(size, dtype=torch.float64)
    magnitude = torch.sqrt(freq.view(-1, 1) ** 2 + freq.view(1, -1) ** 2)
    used = (magnitude >= BAND[0] / size) & (magnitude <= BAND[1])
    u = torch.log(magnitude[used])
    design = torch.stack((torch.ones_like(u), u, u * u), dim=-1)
    return used, torch.eye(u.numel(), dtype=torch.float64) - design @ torch.linalg.pinv(design)


@lru_cache(maxsize=8)
def _projected_templates(size: int, radii: tuple[float, ...]) -> torch.Tensor:
    """[N,R,F] log templates on the scored band with the smooth part removed, one set per noise floor."""
    used, projector = _band(size)
    power = _periodograms(size, radii)[:, used]  # [R,F]
    return torch.stack([torch.log(power + floor) @ projector.T for floor in NOISE_FLOORS])


def luminance(linear: torch.Tensor) -> torch.Tensor:
    """[1,3,H,W] linear light -> [1,1,H,W] float64 linear luminance."""
    weights = torch.tensor(LUMA, dtype=torch.float64, device=linear.device).view(1, 3, 1, 1)
    return (linear[:1].double() * weights).sum(dim=1, keepdim=True)


def flat_patches(
    gray: torch.Tensor, disparity: torch.Tensor, size: int = PATCH_PX
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches of gray [1,1,H,W] over which disparity [1,1,H,W] is nearly constant (with a margin).

    Returns:
        ([M, size, size] patches, [M] their mean disparity).
    """
    h, w = gray.shape[-2:]
    if h < size or w < size:
        return gray.new_zeros(0, size, size), gray.new_zeros(0)
    d = disparity.double()
    padded = F.pad(d, (MARGIN_PX,) * 4, mode="replicate")
    span = size + 2 * MARGIN_PX
    high = F.max_pool2d(padded, span, stride=STRIDE_PX)
    low = -F.max_pool2d(-padded, span, stride=STRIDE_PX)
    mean = F.avg_pool2d(d, size, stride=STRIDE_PX)
    columns = F.unfold(gray, size, stride=STRIDE_PX)[0]  # [size^2, L]
    rows = mean.shape[-2] * mean.shape[-1]
    flat = ((high - low)[..., : mean.shape[-2], : mean.shape[-1]] <= FLAT_DISPARITY).flatten()[:rows]
    chosen = flat.nonzero().flatten()
    return columns[:, chosen].T.reshape(-1, size, size), mean.flatten()[chosen]


def _patch_log_spectra(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[M,P,P] patches -> ([M,P,P] log power, normalised to unit mean, [M] bool: has any texture)."""
    size = patches.shape[-1]
    if patches.shape[0] == 0:
        return patches.clone(), torch.zeros(0, dtype=torch.bool, device=patches.device)
    windowed = (patches - patches.mean(dim=(-2, -1), keepdim=True)) * _hann2d(size)
    power = torch.fft.fft2(windowed).abs() ** 2
    total = power.mean(dim=(-2, -1), keepdim=True)
    textured = (patches.std(dim=(-2, -1)) > 1e-4 * patches.mean(dim=(-2, -1)).abs().clamp_min(1e-3)).flatten()
    return torch.log(power / total.clamp_min(1e-30) + 1e-9), textured


def _scores(log_power: torch.Tensor, radii: tuple[float, ...]) -> torch.Tensor:
    """[B,P,P] mean log power spectra (unit mean power) -> [B,R] misfit of each radius, the best noise floor's."""
    size = log_power.shape[-1]
    used, projector = _band(size)
    data = log_power[:, used] @ projector.T  # [B,F]
    templates = _projected_templates(size, radii)  # [N,R,F]
    misfit = (data[None, :, None, :] - templates[:, None]).abs().median(dim=-1).values  # [N,B,R]
    return misfit.min(dim=0).values


def measure_layer_blur(
    linear: torch.Tensor,
    disparity: torch.Tensor,
    *,
    bins: int = 24,
    max_radius_px: float = 24.0,
    patch_px: int = PATCH_PX,
) -> LayerBlur:
    """Score every candidate blur radius for each disparity bin of a photo, from the spectra of flat patches.

    Args:
        linear: [1,3,H,W] photo, linear light (measured at its own resolution: downscale large photos first).
        disparity: [1,1,H,W] its disparity in [0, 1].
        bins: disparity bins, equal width between the extremes of the patches' disparities.
        max_radius_px: largest radius scored.
        patch_px: patch side.

    Returns:
        LayerBlur, one entry per bin (patches 0, confidence 0 and scores inf where no patch fell).

    >>> blur = measure_layer_blur(torch.rand(1, 3, 48, 64), torch.zeros(1, 1, 48, 64), bins=2, max_radius_px=2)
    >>> blur.scores.shape, int(blur.patches.sum())
    (torch.Size([2, 9]), 15)
    """
    radii = tuple(candidate_radii(max_radius_px))
    patches, patch_disparity = flat_patches(luminance(linear), disparity[:1], patch_px)
    log_power, textured = _patch_log_spectra(patches)
    log_power, patch_disparity = log_power[textured], patch_disparity[textured]
    scores = torch.full((bins, len(radii)), math.inf, dtype=torch.float64)
    count = torch.zeros(bins, dtype=torch.float64)
    centres = torch.zeros(bins, dtype=torch.float64)
    if patch_disparity.numel():
        low, high = float(patch_disparity.min()), float(patch_disparity.max())
        member = ((patch_disparity - low) / max(high - low, 1e-6) * bins).long().clamp(0, bins - 1)  # [M]
        count = torch.zeros(bins, dtype=torch.float64).index_add_(0, member, torch.ones_like(patch_disparity))
        sums = torch.zeros(bins, dtype=torch.float64).index_add_(0, member, patch_disparity)
        centres = sums / count.clamp_min(1)
        size = log_power.shape[-1]
        mean_log = torch.zeros(bins, size, size, dtype=torch.float64).index_add_(0, member, log_power)
        present = count > 0
        mean_log = mean_log[present] / count[present].view(-1, 1, 1)
        scores[present] = _scores(mean_log, radii)
    best = scores.argmin(dim=-1)
    measured = count > 0
    finite = torch.where(measured[:, None], scores, torch.zeros_like(scores))
    contrast = finite.median(dim=-1).values / finite.gather(-1, best[:, None]).squeeze(-1).clamp_min(1e-9) - 1.0
    confidence = torch.where(measured, contrast.clamp_min(0.0) * torch.log1p(count), torch.zeros_like(count))
    return LayerBlur(
        disparity=centres.float(),
        radius_px=torch.tensor(radii, dtype=torch.float64)[best].float(),
        confidence=confidence.float(),
        candidate_radii_px=torch.tensor(radii, dtype=torch.float32),
        scores=scores.float(),
        patches=count.float(),
    )
