"""The w-step of half-quadratic splitting under a hyper-Laplacian prior: per-pixel shrinkage by a look-up table.

For a gradient value v the step solves ``min_w |w|^alpha + (beta / 2) (w - v)^2`` (Krishnan and Fergus 2009,
"Fast image deconvolution using hyper-Laplacian priors").  Writing ``w = s u`` and ``v = s t`` with
``s = (2 / beta)^(1 / (2 - alpha))`` turns it into ``min_u |u|^alpha + (u - t)^2``, one problem for every beta:
its solution u*(t) is tabulated once per alpha (odd in t, 0 below a threshold, then rising toward t), and
read back with linear interpolation as the shrinkage ``t - u*(t)``, which past the table's end is taken as at
its end (it falls as ``(alpha / 2) t^(alpha - 1)``, under 0.08 there: negligible beside t).
"""

from __future__ import annotations

from functools import lru_cache

import torch

TABLE_END = 64.0
"""Largest scaled value t the table holds."""
TABLE_SIZE = 4096


@lru_cache(maxsize=4)
def _shrinkage_table(alpha: float) -> torch.Tensor:
    """[TABLE_SIZE] float32 t - u*(t) for t evenly spaced on [0, TABLE_END]."""
    t = torch.linspace(0.0, TABLE_END, TABLE_SIZE, dtype=torch.float64)
    return (t - _table(alpha)).float()


def _table(alpha: float) -> torch.Tensor:
    """[TABLE_SIZE] u*(t) for t evenly spaced on [0, TABLE_END] (float64, brute force then one Newton step)."""
    t = torch.linspace(0.0, TABLE_END, TABLE_SIZE, dtype=torch.float64)
    fractions = torch.linspace(0.0, 1.0, 2049, dtype=torch.float64)
    u = t[:, None] * fractions[None, :]  # the minimiser lies between 0 and t
    cost = u.abs() ** alpha + (u - t[:, None]) ** 2
    best = u.gather(1, cost.argmin(dim=1, keepdim=True)).squeeze(1)
    positive = best > 0
    safe = best.clamp_min(1e-12)
    gradient = alpha * safe ** (alpha - 1) + 2 * (safe - t)
    curvature = alpha * (alpha - 1) * safe ** (alpha - 2) + 2
    refined = (safe - gradient / curvature).clamp(0.0, None)
    usable = positive & (curvature > 0) & (refined > 0)
    return torch.where(usable, torch.minimum(refined, t), best)


def shrink(values: torch.Tensor, beta: float, alpha: float) -> torch.Tensor:
    """Per-pixel ``argmin_w |w|^alpha + (beta / 2) (w - v)^2`` of every value v (any shape, same dtype out).

    Args:
        values: gradient values v, any shape.
        beta: weight of the splitting penalty (> 0); larger keeps w closer to v.
        alpha: exponent of the prior, in (0, 1].

    Returns:
        w, the shape of `values`: 0 for small |v|, close to v for large |v|.

    >>> shrink(torch.tensor([0.0, 0.01, 10.0]), 100.0, 0.5).tolist()[:2]
    [0.0, 0.0]
    """
    scale = (2.0 / beta) ** (1.0 / (2.0 - alpha))
    table = _shrinkage_table(float(alpha)).to(device=values.device, dtype=values.dtype)
    magnitude = values.abs()
    position = (magnitude * ((TABLE_SIZE - 1) / (TABLE_END * scale))).clamp_(max=TABLE_SIZE - 1.001)
    index = position.long()
    position.sub_(index)
    shrinkage = torch.lerp(table[index], table[index + 1], position)  # t - u*(t), scaled units
    return values - torch.sign(values) * torch.minimum(shrinkage * scale, magnitude)
