"""Ring-free blur evidence per depth bin: band energies of each bin against a reblurred reference.

The photo's luminance is cut into flat-depth, Hann-windowed patches (`restore.measure.flat_patches`); each
bin's mean power spectrum (every patch normalised to unit power, so contrast does not weigh) is reduced to
the energies of a few octave-wide frequency bands, as log ratios to the coarsest band.  The sharpest bin
(highest share of fine-band energy) is the reference texture: its spectrum times the disc's transfer function
``(2 J1(2 pi f r) / (2 pi f r))^2`` gives the band ratios it would have if blurred by radius r.  A bin's cost
at r is the summed absolute difference of its log ratios from the reference's at r, with a floor on every
ratio (JPEG, noise and rounding fill bands that blur has emptied).  Band energies integrate over the disc's
rings, so JPEG and real lenses, which smear the rings, do not change them much.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from refocus_cli.restore.measure import _hann2d, candidate_radii, flat_patches, luminance

BAND_CENTRES = (1 / 16, 1 / 8, 3 / 16, 1 / 4, 11 / 32)
"""Centres of the bands (cycles per pixel); the first is the reference band of the ratios."""
BAND_WIDTH_OCTAVES = 0.5
"""Gaussian width (sigma, octaves) of every band."""
RATIO_FLOOR = 1e-3
"""Floor added to every band ratio before its log: what noise and compression leave in emptied bands."""
MIN_REFERENCE_SHARE = 0.05
"""A bin can be the reference when it holds at least this share of the patches (and 3 or more)."""


@dataclass(frozen=True)
class BandCosts:
    """Per-bin cost of every candidate radius at one scale of the photo.

    Attributes:
        disparity: [B] mean disparity of each measured bin.
        patches: [B] patches behind each bin (> 0).
        radii_px: [R] candidate radii, pixels at the measured scale.
        costs: [B,R] >= 0, zero at each bin's best radius; lower is better.
        reference: index of the reference bin in the B bins.
    """

    disparity: torch.Tensor
    patches: torch.Tensor
    radii_px: torch.Tensor
    costs: torch.Tensor
    reference: int


def _band_weights(size: int) -> torch.Tensor:
    """[S, size, size] Gaussian band masks in log frequency over an FFT grid."""
    freq = torch.fft.fftfreq(size, dtype=torch.float64)
    magnitude = torch.sqrt(freq.view(-1, 1) ** 2 + freq.view(1, -1) ** 2).clamp_min(1e-9)
    octaves = torch.log2(magnitude[None] / torch.tensor(BAND_CENTRES, dtype=torch.float64).view(-1, 1, 1))
    return torch.exp(-0.5 * (octaves / BAND_WIDTH_OCTAVES) ** 2) * (magnitude[None] > 0.5 / size)


def disc_transfer(size: int, radii: torch.Tensor) -> torch.Tensor:
    """[R, size, size] squared transfer function of uniform discs of the given radii (px) on an FFT grid."""
    freq = torch.fft.fftfreq(size, dtype=torch.float64)
    magnitude = torch.sqrt(freq.view(-1, 1) ** 2 + freq.view(1, -1) ** 2)
    x = 2 * torch.pi * magnitude[None] * radii.double().clamp_min(1e-6).view(-1, 1, 1)
    airy = torch.where(x > 1e-6, 2 * torch.special.bessel_j1(x) / x.clamp_min(1e-6), torch.ones_like(x))
    return airy**2


def _log_ratios(spectra: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """[N,P,P] power spectra, [S,P,P] band masks -> [N,S] log of each band's mean power relative to the
    spectrum's mean power, floored."""
    energies = torch.einsum("nxy,sxy->ns", spectra, weights) / weights.sum(dim=(-2, -1))
    return torch.log(energies / spectra.mean(dim=(-2, -1))[:, None].clamp_min(1e-30) + RATIO_FLOOR)


def measure_band_costs(
    linear: torch.Tensor, disparity: torch.Tensor, *, bins: int = 24, max_radius_px: float = 8.0, patch_px: int = 32
) -> BandCosts | None:
    """Cost of every candidate blur radius for each disparity bin of a photo, from band energies.

    Args:
        linear: [1,3,H,W] photo, linear light, at the resolution to measure.
        disparity: [1,1,H,W] in [0, 1].
        bins: equal-width disparity bins between the extremes of the patches' disparities.
        max_radius_px: largest radius scored (px at this resolution).
        patch_px: patch side.

    Returns:
        BandCosts over the bins that hold patches, or None when no bin can serve as the reference.

    >>> costs = measure_band_costs(torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64), bins=2)
    >>> costs.costs.shape[0], float(costs.costs.min())
    (1, 0.0)
    """
    patches, patch_disparity = flat_patches(luminance(linear), disparity[:1], patch_px)
    if patches.shape[0] == 0:
        return None
    windowed = (patches - patches.mean(dim=(-2, -1), keepdim=True)) * _hann2d(patch_px)
    power = torch.fft.fft2(windowed).abs() ** 2  # [M,P,P]
    total = power.mean(dim=(-2, -1))
    textured = total > 1e-12
    power, patch_disparity = power[textured] / total[textured].view(-1, 1, 1), patch_disparity[textured]
    if power.shape[0] == 0:
        return None
    low, high = float(patch_disparity.min()), float(patch_disparity.max())
    member = ((patch_disparity - low) / max(high - low, 1e-6) * bins).long().clamp(0, bins - 1)
    count = torch.zeros(bins, dtype=torch.float64).index_add_(0, member, torch.ones_like(patch_disparity))
    sums = torch.zeros(bins, dtype=torch.float64).index_add_(0, member, patch_disparity)
    spectra = torch.zeros(bins, patch_px, patch_px, dtype=torch.float64).index_add_(0, member, power)
    present = count > 0
    count, centres = count[present], sums[present] / count[present]
    spectra = spectra[present] / count.view(-1, 1, 1)  # [B,P,P]
    weights = _band_weights(patch_px)  # [S,P,P]
    ratios = _log_ratios(spectra, weights)  # [B,S]
    eligible = count >= max(3.0, MIN_REFERENCE_SHARE * float(count.sum()))
    if not bool(eligible.any()):
        return None
    sharpness = torch.where(eligible, ratios.sum(dim=-1), torch.full_like(count, -torch.inf))
    reference = int(sharpness.argmax())
    radii = torch.tensor(candidate_radii(max_radius_px), dtype=torch.float64)
    blurred = spectra[reference][None] * disc_transfer(patch_px, radii)  # [R,P,P]
    curves = _log_ratios(blurred, weights)  # [R,S]
    costs = (ratios[:, None, :] - curves[None]).abs().sum(dim=-1)  # [B,R]
    costs = costs - costs.min(dim=-1, keepdim=True).values
    return BandCosts(centres, count, radii, costs, reference)
