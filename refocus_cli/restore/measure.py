"""Measure the blur radius of each depth layer of a photo from its spectrum, given the depth.

A disc blur of radius r multiplies the spectrum by the Airy pattern ``(2 J1(2 pi f r) / (2 pi f r))^2``: rings
of zeros at ``f ~ 0.61 / r, 1.12 / r, ...`` cycles per pixel.  For each disparity bin the photo's luminance is
cut into Hann-windowed patches that lie wholly inside the bin, their power spectra are averaged, and every
candidate radius is scored by how well its pattern explains the log spectrum once a smooth, isotropic
spectrum of the unknown scene (a quadratic in log frequency) is taken out.  The template of each radius is
the exact expected periodogram of disc-blurred white noise under the same window, so the window's own
smearing of the rings is modelled, not ignored.  The best radius per bin, with a confidence from how clearly
it wins, feeds `restore.fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from refocus_cli.aperture import aperture_kernel

LUMA = (0.2126, 0.7152, 0.0722)
OCCAM = 1.1
"""A larger radius must fit the log spectrum this much better than a smaller one to be chosen."""


@dataclass(frozen=True)
class LayerBlur:
    """Blur radius measured per disparity bin.

    Attributes:
        disparity: [B] mean disparity of each bin's pixels.
        radius_px: [B] measured blur radius, pixels.
        confidence: [B] >= 0 (0 = bin too small to measure).
        candidate_radii_px: [R] radii that were scored.
        scores: [B,R] misfit of each candidate (lower is better; inf where unmeasured).
    """

    disparity: torch.Tensor
    radius_px: torch.Tensor
    confidence: torch.Tensor
    candidate_radii_px: torch.Tensor
    scores: torch.Tensor


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


@lru_cache(maxsize=8)
def _log_templates(size: int, radii: tuple[float, ...]) -> torch.Tensor:
    """[R, size, size] log expected periodogram of disc-blurred white noise under a Hann window.

    E|FFT(w (k * n))|^2 = FFT over lags of R_w(tau) R_k(tau), the lags folded modulo the patch size.
    """
    window = _hann2d(size)
    full = 2 * size - 1
    r_w = F.conv2d(F.pad(window, (size - 1,) * 4)[None, None], window[None, None])[0, 0]  # [2P-1]^2, lag 0 centre
    templates = []
    for radius in radii:
        kernel = aperture_kernel(radius, dtype=torch.float64)
        half = kernel.shape[-1] - 1
        r_k = F.conv2d(F.pad(kernel, (half,) * 4)[None, None], kernel[None, None])[0, 0]  # [2k-1]^2
        lag_half = min(r_k.shape[-1] // 2, size - 1)
        centre = r_k.shape[-1] // 2
        product = torch.zeros(full, full, dtype=torch.float64)
        product[size - 1 - lag_half : size + lag_half, size - 1 - lag_half : size + lag_half] = r_k[
            centre - lag_half : centre + lag_half + 1, centre - lag_half : centre + lag_half + 1
        ]
        product = product * r_w
        lags = torch.arange(full) - (size - 1)
        folded = torch.zeros(size, size, dtype=torch.float64)
        rows = (lags % size).view(-1, 1).expand(full, full)
        cols = (lags % size).view(1, -1).expand(full, full)
        folded.index_put_((rows.reshape(-1), cols.reshape(-1)), product.reshape(-1), accumulate=True)
        power = torch.fft.fft2(folded).real.clamp_min(0.0)
        templates.append(torch.log(power + 1e-6 * float(power.max())))
    return torch.stack(templates)


def _patches(gray: torch.Tensor, mask: torch.Tensor, size: int, limit: int) -> torch.Tensor:
    """[M, size, size] patches of gray [1,1,H,W] lying wholly inside mask, half-overlapping, at most `limit`."""
    h, w = gray.shape[-2:]
    if h < size or w < size:
        return gray.new_zeros(0, size, size)
    stride = size // 2
    inside = F.avg_pool2d(mask, size, stride=stride) > 0.999  # [1,1,h',w']
    columns = F.unfold(gray, size, stride=stride)[0]  # [size^2, L]
    chosen = inside.flatten().nonzero().flatten()
    if chosen.numel() > limit:
        chosen = chosen[torch.linspace(0, chosen.numel() - 1, limit).round().long()]
    return columns[:, chosen].T.reshape(-1, size, size)


def _bin_scores(patches: torch.Tensor, radii: tuple[float, ...]) -> torch.Tensor:
    """[R] misfit of each radius for these patches."""
    size = patches.shape[-1]
    patches = patches.double()
    windowed = (patches - patches.mean(dim=(-2, -1), keepdim=True)) * _hann2d(size)
    power = (torch.fft.fft2(windowed).abs() ** 2).mean(dim=0)
    log_power = torch.log(power + 1e-8 * float(power.max()) + 1e-30)
    freq = torch.fft.fftfreq(size, dtype=torch.float64)
    magnitude = torch.sqrt(freq.view(-1, 1) ** 2 + freq.view(1, -1) ** 2)
    used = (magnitude >= 1.5 / size) & (magnitude <= 0.45)
    u = torch.log(magnitude[used])
    design = torch.stack((torch.ones_like(u), u, u * u), dim=-1)  # smooth scene spectrum, log-log quadratic
    projector = torch.eye(u.numel(), dtype=torch.float64) - design @ torch.linalg.pinv(design)
    misfit = (log_power[used][None, :] - _log_templates(size, radii)[:, used]) @ projector.T
    return misfit.abs().median(dim=-1).values  # median: line spectra of regular textures are outliers


def measure_layer_blur(
    linear: torch.Tensor,
    disparity: torch.Tensor,
    *,
    bins: int = 24,
    max_radius_px: float = 40.0,
    erode_px: int = 3,
    max_patches: int = 48,
) -> LayerBlur:
    """Blur radius of each disparity bin of a photo, from the spectra of patches inside the bin.

    Args:
        linear: [1,3,H,W] photo, linear light.
        disparity: [1,1,H,W] its disparity in [0, 1].
        bins: disparity bins, equal width between the map's extremes.
        max_radius_px: largest radius considered.
        erode_px: patches keep this far from the bin's boundary (its edges mix in other depths' blur).
        max_patches: patches per bin at most (evenly chosen).

    Returns:
        LayerBlur with one entry per bin (confidence 0 where no patch fits).
    """
    weights = torch.tensor(LUMA, dtype=torch.float64, device=linear.device).view(1, 3, 1, 1)
    gray = (linear[:1].double() * weights).sum(dim=1, keepdim=True)  # [1,1,H,W] luminance
    d = disparity[:1].double()
    low, high = float(d.min()), float(d.max())
    edges = torch.linspace(low, high + 1e-6, bins + 1, dtype=torch.float64)
    radii = tuple(candidate_radii(max_radius_px))
    centres, measured, confidence, all_scores = [], [], [], []
    for b in range(bins):
        member = ((d >= edges[b]) & (d < edges[b + 1])).double()
        count = float(member.sum())
        centres.append(float((member * d).sum()) / count if count else float(0.5 * (edges[b] + edges[b + 1])))
        size = erode_px * 2 + 1
        eroded = (F.avg_pool2d(F.pad(member, (erode_px,) * 4), size, stride=1) > 0.999).double()
        patches = _patches(gray, eroded, 64, max_patches)
        if patches.shape[0] == 0:
            patches = _patches(gray, eroded, 32, max_patches)
        if patches.shape[0] == 0 or float(patches.std()) < 1e-6:
            measured.append(0.0)
            confidence.append(0.0)
            all_scores.append(torch.full((len(radii),), math.inf, dtype=torch.float64))
            continue
        scores = _bin_scores(patches, radii)
        # Occam: the smallest radius that explains the spectrum almost as well as the best one.
        best = int((scores <= OCCAM * scores.min()).nonzero()[0])
        # How clearly the best radius wins: the typical misfit over the best one, more patches = surer.
        contrast = float(scores.median() / scores[best].clamp_min(1e-9)) - 1.0
        area = patches.shape[0] * (patches.shape[-1] / 32) ** 2
        measured.append(radii[best])
        confidence.append(max(contrast, 0.0) * math.log1p(area))
        all_scores.append(scores)
    return LayerBlur(
        disparity=torch.tensor(centres, dtype=torch.float32),
        radius_px=torch.tensor(measured, dtype=torch.float32),
        confidence=torch.tensor(confidence, dtype=torch.float32),
        candidate_radii_px=torch.tensor(radii, dtype=torch.float32),
        scores=torch.stack(all_scores).float(),
    )
