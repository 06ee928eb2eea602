"""Planes on coarse grids: every plane's pixels pooled with a few scatters, and consecutive coarse planes
composited on their own grids before one trip to full resolution."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class CoarseRun:
    """Consecutive planes of one reduced resolution, composited front to back at that resolution."""

    scale: int
    colour: torch.Tensor  # [N,3,h,w] premultiplied
    transmittance: torch.Tensor  # [N,1,h,w]

    @classmethod
    def empty(cls, scale: int, like: torch.Tensor) -> CoarseRun:
        n, _, h, w = like.shape
        return cls(scale, like.new_zeros(n, 3, h, w), like.new_ones(n, 1, h, w))

    def add(self, layer: torch.Tensor) -> None:
        self.colour = self.colour + self.transmittance * layer[:, :3]
        self.transmittance = self.transmittance * (1.0 - layer[:, 3:4])

    def then(self, farther: CoarseRun) -> CoarseRun:
        """This run over a farther one, on the finer of their two grids (over is associative)."""
        front, back = self, farther
        if front.scale > back.scale:
            front = front.resampled(back.scale)
        elif back.scale > front.scale:
            back = back.resampled(front.scale)
        colour = front.colour + front.transmittance * back.colour
        return CoarseRun(front.scale, colour, front.transmittance * back.transmittance)

    def resampled(self, scale: int) -> CoarseRun:
        """The run on the finer grid of `scale` (bilinear)."""
        both = F.interpolate(
            torch.cat((self.colour, self.transmittance), dim=1),
            scale_factor=self.scale // scale,
            mode="bilinear",
            align_corners=False,
        )
        return CoarseRun(scale, both[:, :3], both[:, 3:4])

    @staticmethod
    def composite_onto(
        runs: list[CoarseRun], colour: torch.Tensor, transmittance: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Consecutive runs (nearest first), merged on their grids, brought to full resolution once and
        composited over what lies behind the nearer planes."""
        merged = runs[0]
        for farther in runs[1:]:
            merged = merged.then(farther)
        full = merged.resampled(1)
        return colour + transmittance * full.colour, transmittance * full.transmittance


@dataclass(frozen=True)
class PooledPlanes:
    """Some planes' pixels pooled onto the grid of one reduced resolution."""

    members: list[int]  # the planes pooled here, ascending
    content: torch.Tensor  # [N,len(members),4,h,w] premultiplied colour and coverage of each plane's pixels
    nearer_coverage: torch.Tensor  # [N,len(members),1,h,w] fraction of each cell taken by nearer planes

    def plane(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(content [N,4,h,w], unhidden fraction [N,1,h,w]) of plane i."""
        slot = self.members.index(i)
        return self.content[:, slot], 1.0 - self.nearer_coverage[:, slot]


def pool_planes(
    image: torch.Tensor, plane: torch.Tensor, members: list[int], scale: int, *, plane_count: int | None = None
) -> PooledPlanes:
    """Area-pool [image, 1] of the member planes at 1/scale resolution, and the coverage of the planes
    nearer than each, with a few scatters over all pixels (not one pass per plane).

    Args:
        image: [N,3,H,W], H and W multiples of `scale`.
        plane: [N,1,H,W] integer plane of every pixel.
        members: the planes wanted, ascending.
        scale: the reduction.
        plane_count: planes in all (one more than the largest in `plane`); None = found from `plane`.
    """
    n, _, h, w = image.shape
    hc, wc = h // scale, w // scale
    cells = hc * wc
    slots = len(members) + 1
    device = image.device
    cell = (torch.arange(h, device=device) // scale)[:, None] * wc + torch.arange(w, device=device)[None] // scale
    cell = cell.view(1, 1, h, w) + torch.arange(n, device=device).view(n, 1, 1, 1) * (cells * slots)
    # Look-up tables over plane numbers, already times the cell count: each plane's slot among the members
    # (len(members), a dump slot, for other planes), and how many members lie at or before it (the bucket whose
    # cumulative count is "nearer").
    count = max(members[-1] + 1, plane_count or int(plane.max()) + 1)
    slot_of = torch.full((count,), len(members), dtype=torch.long, device=device)
    slot_of[members] = torch.arange(len(members), device=device)
    bucket_of = torch.zeros(count, dtype=torch.long, device=device)
    bucket_of[members] = 1
    bucket_of = bucket_of.cumsum(0)
    key = ((slot_of * cells)[plane] + cell).flatten()
    size = n * slots * cells
    area = 1.0 / scale**2
    if image.requires_grad:
        values = torch.cat((image, torch.ones_like(image[:, :1])), dim=1).permute(0, 2, 3, 1).reshape(-1, 4)
        sums = values.new_zeros(size, 4).index_add(0, key, values).view(n, slots, cells, 4).permute(0, 1, 3, 2)
        content = sums[:, :-1].reshape(n, len(members), 4, hc, wc) * area
    else:  # bincount is several times faster than index_add on the CPU, but has no gradient
        pooled = image.new_empty(n, slots, 4, cells)
        for c in range(4):
            weights = image[:, c].flatten() if c < 3 else None
            torch.mul(
                torch.bincount(key, weights=weights, minlength=size).view(n, slots, cells), area, out=pooled[:, :, c]
            )
        content = pooled[:, :-1].view(n, len(members), 4, hc, wc)
    # Coverage nearer than member k: the pixels whose plane is below it, i.e. at most k members at or below.
    counts = torch.bincount(((bucket_of * cells)[plane] + cell).flatten(), minlength=size)
    nearer = image.new_empty(n, len(members), cells)
    torch.mul(counts.view(n, slots, cells).cumsum(dim=1)[:, :-1], area, out=nearer)
    return PooledPlanes(members, content, nearer.view(n, len(members), 1, hc, wc).clamp_(0, 1))
