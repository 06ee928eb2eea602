"""Fit the defocus already in a photo: ``|r| = K0 * |d - d0|`` from blur observations and disparity.

Observations are blur radii (pixels) at known disparities with confidences: one per pixel from an edge-based
estimator, or one per depth layer from `restore.measure`.  For every focus d0 on a grid over [0, 1] the best
K0 >= 0 under a weighted least-absolute-deviation loss is a weighted median (of r / |d - d0|, weighted by
w |d - d0|), so the fit is exact per d0 and robust to outliers; the d0 with the lowest loss wins, refined on
a finer grid around it.
"""

from __future__ import annotations

import math
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
        reliable: whether the photo's own measurements back the fit (True when given): enough of the frame
            shows blur that is measurably above sharp and consistent with the fitted V.
        blurred_share: share of the measured frame whose blur the fit puts at `SHARP_RADIUS_PX` or more and
            whose measurement confirms it (None when given, not fitted).
    """

    k0_px: float
    focus_disparity: float
    residual_px: float = 0.0
    evidence: float = float("inf")
    reliable: bool = True
    blurred_share: float | None = None

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


COST_CAP = 0.5
"""A bin's cost, log(misfit / its best misfit), is capped here: a bin that disagrees costs the same however far."""
BEYOND_COST = 0.05
"""Cost per doubling of a radius past the largest a scale scores."""
CONFIRM_COST = 0.05
"""A bin confirms blur when its measurement at the fitted radius beats sharp (radius 0) by this much."""
BLURRED_RADIUS_PX = 1.5
"""Blur (px, full resolution) below which a region counts as sharp for `PhotoDefocus.blurred_share`."""
MIN_BLURRED_SHARE = 0.05
"""A fit is reliable when at least this share of the measured frame confirms blur."""


def _interpolate(curves: torch.Tensor, radii: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Curves [B,R] sampled at radii [R] (increasing), read at [...,B] radii (clamped to the ends) -> [...,B]."""
    at = at.clamp(float(radii[0]), float(radii[-1]))
    index = torch.searchsorted(radii, at.contiguous()).clamp(1, radii.numel() - 1)
    r0, r1 = radii[index - 1], radii[index]
    t = (at - r0) / (r1 - r0).clamp_min(1e-12)
    rows = torch.arange(curves.shape[0]).expand_as(index)
    return curves[rows, index - 1] * (1 - t) + curves[rows, index] * t


def _bin_cost(
    cost: torch.Tensor, radii: torch.Tensor, radius: torch.Tensor, cap: float, beyond_cost: float
) -> torch.Tensor:
    """Capped cost [...,B] of bins [B,R] at radii [...,B]; past the largest scored radius the cost grows by
    `beyond_cost` per doubling (a blur the scale cannot see is not free)."""
    largest = float(radii[-1])
    beyond = beyond_cost * torch.log2((radius / largest).clamp_min(1.0))
    return (_interpolate(cost, radii, radius) + beyond).clamp(max=cap)


def fit_blur_scores(
    measurements: list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
) -> PhotoDefocus:
    """`fit_blur_costs` on misfit scores [B,R] (lower better, inf where unmeasured): cost = log(score / best),
    with the caps of the spectral scores (`COST_CAP`, `BEYOND_COST`, `CONFIRM_COST`)."""
    costs = []
    for scale, disparity, patches, radii, scores in measurements:
        measured = (patches > 0) & torch.isfinite(scores).all(dim=-1)
        s = scores[measured].double()
        cost = torch.log(s / s.min(dim=-1, keepdim=True).values) if s.numel() else s
        costs.append((scale, disparity[measured], patches[measured], radii, cost))
    return fit_blur_costs(costs)


def fit_blur_costs(
    measurements: list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    *,
    focus_steps: int = 201,
    k_steps: int = 241,
    max_k_px: float = 120.0,
    cost_cap: float = COST_CAP,
    beyond_cost: float = BEYOND_COST,
    confirm_cost: float = CONFIRM_COST,
) -> PhotoDefocus:
    """Joint fit of ``r = K0 |d - d0|`` (full-resolution px) to per-bin cost curves at several scales.

    Every bin of every scale votes with its whole curve: the loss of a candidate (K0, d0) is the sum over bins
    of ``sqrt(patches) * min(cost(s K0 |d - d0|), cost_cap)``, s the bin's scale (the V shape holds by
    construction, and bins that cannot tell radii apart add about the same to every candidate).

    Args:
        measurements: per scale, (scale, bin disparities [B], patches [B], candidate radii [R] px at that scale,
            costs [B,R] >= 0, lower better).
        focus_steps: candidate foci on [0, 1] (searched on a 2 times coarser grid first, the best three refined).
        k_steps: candidate K0 on [0, max_k_px], spaced more finely near 0 (likewise).
        max_k_px: largest K0 tried (full-resolution px per unit disparity).
        cost_cap: a bin's cost is capped here (a bin that disagrees costs the same however far).
        beyond_cost: cost per doubling of a radius past the largest a scale scores.
        confirm_cost: a bin confirms blur when its cost at radius 0 exceeds its cost at the fit by this much.

    Returns:
        PhotoDefocus with K0, d0, the mean capped cost as residual, the summed bin weights as evidence and the
        share of the measured frame that confirms blur (`reliable` is that share >= `MIN_BLURRED_SHARE`; callers
        may make it stricter).
    """
    kept = [
        (scale, d.double(), n.double(), radii.double(), cost.double())
        for scale, d, n, radii, cost in measurements
        if d.numel()
    ]
    if not kept:
        return PhotoDefocus(0.0, 0.5, 0.0, 0.0, reliable=False, blurred_share=0.0)

    def grid_loss(k: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
        loss = torch.zeros(k.numel(), focus.numel(), dtype=torch.float64)
        for scale, d, n, radii, cost in kept:
            radius = scale * k.view(-1, 1, 1) * (d.view(1, 1, -1) - focus.view(1, -1, 1)).abs()  # [K,F,B]
            loss += (_bin_cost(cost, radii, radius, cost_cap, beyond_cost) * n.sqrt()).sum(dim=-1)
        return loss

    # coarse grid (K spaced more finely near 0), then the full resolution around its best
    coarse_f, coarse_k = (focus_steps - 1) // 2, (k_steps - 1) // 2
    focus = torch.linspace(0.0, 1.0, coarse_f + 1, dtype=torch.float64)
    root = torch.linspace(0.0, 1.0, coarse_k + 1, dtype=torch.float64)
    candidates = grid_loss(max_k_px * root**2, focus).flatten().topk(3, largest=False).indices
    best_loss, k0, d0 = math.inf, 0.0, 0.5
    for index in candidates.tolist():  # the three best coarse candidates, refined
        f0, u0 = float(focus[index % focus.numel()]), float(root[index // focus.numel()])
        near_f = torch.linspace(max(0.0, f0 - 1 / coarse_f), min(1.0, f0 + 1 / coarse_f), 5, dtype=torch.float64)
        near_u = torch.linspace(max(0.0, u0 - 1 / coarse_k), min(1.0, u0 + 1 / coarse_k), 5, dtype=torch.float64)
        loss = grid_loss(max_k_px * near_u**2, near_f)
        best = int(loss.argmin())
        if float(loss.view(-1)[best]) < best_loss:
            best_loss = float(loss.view(-1)[best])
            k0, d0 = max_k_px * float(near_u[best // near_f.numel()]) ** 2, float(near_f[best % near_f.numel()])
    confirmed = area = weight = 0.0
    for scale, d, n, radii, cost in kept:
        fitted = k0 * (d - d0).abs()  # [B] full-resolution px
        at_fit = _bin_cost(cost, radii, scale * fitted[None], cost_cap, beyond_cost)[0]
        confirms = (fitted >= BLURRED_RADIUS_PX) & (cost[:, 0] - at_fit >= confirm_cost)
        size = n / scale**2  # patches cover (P / s)^2 full-resolution px each
        confirmed += float(size[confirms].sum())
        area += float(size.sum())
        weight += float(n.sqrt().sum())
    share = confirmed / max(area, 1e-12)
    residual = best_loss / max(weight, 1e-12)
    return PhotoDefocus(k0, d0, residual, weight, reliable=share >= MIN_BLURRED_SHARE, blurred_share=share)
