"""Fit the defocus already in a photo: ``|r| = K0 * |d - d0|`` from blur observations and disparity.

Observations are blur radii (pixels) at known disparities with confidences: one per pixel from an edge-based
estimator, or one per depth layer from `restore.measure`.  For every focus d0 on a grid over [0, 1] the best
K0 >= 0 under a weighted least-absolute-deviation loss is a weighted median (of r / |d - d0|, weighted by
w |d - d0|), so the fit is exact per d0 and robust to outliers; the d0 with the lowest loss wins, refined on
a finer grid around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from refocus_cli.errors import SettingsError


@dataclass(frozen=True)
class PhotoDefocus:
    """The photo's own lens blur: signed CoC radius ``K0 * (d - d0)`` pixels at disparity d.

    Attributes:
        k0_px: K0, CoC radius in pixels per unit disparity difference (>= 0).
        focus_disparity: d0 in [0, 1], the disparity the photo was focused at.
        residual_px: weighted mean absolute residual of the fit, pixels (0 when given, not fitted).
        evidence: total confidence weight behind the fit (inf when given).
    """

    k0_px: float
    focus_disparity: float
    residual_px: float = 0.0
    evidence: float = float("inf")

    @classmethod
    def known(cls, k0_px: float, focus_disparity: float) -> PhotoDefocus:
        """The photo's blur when it is known (a test, or camera settings), not fitted."""
        if k0_px < 0:
            raise SettingsError(f"photo blur K0 must be zero or positive, got {k0_px}")
        return cls(float(k0_px), float(focus_disparity))

    def radius_px(self, disparity: torch.Tensor) -> torch.Tensor:
        """Blur radius |K0 (d - d0)| in pixels of each pixel of the photo, same shape as `disparity`."""
        return (self.k0_px * (disparity - self.focus_disparity)).abs()


def _weighted_median(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Row-wise weighted median of [G,P] values (the lower one where the weight splits exactly)."""
    order = values.argsort(dim=-1)
    sorted_values = values.gather(-1, order)
    cumulative = weights.gather(-1, order).cumsum(dim=-1)
    half = 0.5 * cumulative[..., -1:]
    index = (cumulative < half).sum(dim=-1, keepdim=True).clamp(max=values.shape[-1] - 1)
    return sorted_values.gather(-1, index).squeeze(-1)


def _fit_on_grid(
    d: torch.Tensor, r: torch.Tensor, w: torch.Tensor, focus_grid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best K0 [G] and weighted mean absolute residual [G] for each candidate focus of [G]."""
    distance = (d[None, :] - focus_grid[:, None]).abs()  # [G,P]
    usable = distance > 1e-6
    ratio = torch.where(usable, r[None, :] / distance.clamp_min(1e-6), torch.zeros_like(distance))
    k0 = _weighted_median(ratio, torch.where(usable, w[None, :] * distance, torch.zeros_like(distance)))
    k0 = k0.clamp_min(0.0)
    loss = (w[None, :] * (r[None, :] - k0[:, None] * distance).abs()).sum(dim=-1) / w.sum().clamp_min(1e-12)
    return k0, loss


def fit_photo_defocus(
    disparity: torch.Tensor,
    radius_px: torch.Tensor,
    confidence: torch.Tensor,
    *,
    grid_steps: int = 201,
    max_observations: int = 20000,
) -> PhotoDefocus:
    """Robust fit of ``|r| = K0 |d - d0|`` (K0 >= 0, d0 in [0, 1]) to blur observations.

    Args:
        disparity: observation disparities, any shape (e.g. [1,1,H,W] or [B]), in [0, 1].
        radius_px: observed blur radii, same shape, pixels (sign ignored).
        confidence: weights >= 0, same shape (0 = no evidence).
        grid_steps: candidate foci on [0, 1] before refinement.
        max_observations: the strongest observations kept (by confidence) to bound time and memory.

    Returns:
        PhotoDefocus with the fitted K0, d0, the residual and the total weight used.  With no evidence at
        all, K0 = 0 (nothing to undo).

    >>> d = torch.tensor([0.1, 0.3, 0.5, 0.9])
    >>> fit = fit_photo_defocus(d, 10 * (d - 0.5).abs(), torch.ones(4))
    >>> round(fit.k0_px, 3), round(fit.focus_disparity, 3)
    (10.0, 0.5)
    """
    d = disparity.detach().flatten().double()
    r = radius_px.detach().flatten().double().abs()
    w = confidence.detach().flatten().double().clamp_min(0.0)
    keep = torch.isfinite(d) & torch.isfinite(r) & torch.isfinite(w) & (w > 0)
    d, r, w = d[keep], r[keep], w[keep]
    if d.numel() == 0:
        return PhotoDefocus(0.0, 0.5, 0.0, 0.0)
    if d.numel() > max_observations:
        top = w.topk(max_observations).indices
        d, r, w = d[top], r[top], w[top]
    coarse = torch.linspace(0.0, 1.0, grid_steps, dtype=torch.float64)
    _, loss = _fit_on_grid(d, r, w, coarse)
    best = float(coarse[int(loss.argmin())])
    step = 1.0 / (grid_steps - 1)
    fine = torch.linspace(max(0.0, best - step), min(1.0, best + step), 41, dtype=torch.float64)
    k0, loss = _fit_on_grid(d, r, w, fine)
    i = int(loss.argmin())
    return PhotoDefocus(float(k0[i]), float(fine[i]), float(loss[i]), float(w.sum()))
