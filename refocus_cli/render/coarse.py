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


def pool_planes(image: torch.Tensor, plane: torch.Tensor, members: list[int], scale: int) -> PooledPlanes:
    """Area-pool [image, 1] of the member planes at 1/scale resolution, and the coverage of the planes
    nearer than each, with a few scatters over all pixels (not one pass per plane)."""
    n, _, h, w = image.shape
    cells = (h // scale) * (w // scale)
    cell_rows = torch.arange(h, device=image.device) // scale
    cell_cols = torch.arange(w, device=image.device) // scale
    cell = (cell_rows[:, None] * (w // scale) + cell_cols[None, :]).view(1, 1, h, w)
    cell = cell + torch.arange(n, device=image.device).view(n, 1, 1, 1) * (cells * (len(members) + 1))
    slots = len(members) + 1
    # Look-up tables over plane numbers: each plane's slot among the members (len(members), a dump slot, for
    # other planes), and how many members lie at or before it (the bucket whose cumulative count is "nearer").
    count = max(members[-1], int(plane.max())) + 1
    slot_of = torch.full((count,), len(members), dtype=torch.long, device=image.device)
    slot_of[members] = torch.arange(len(members), device=image.device)
    bucket_of = torch.zeros(count, dtype=torch.long, device=image.device)
    bucket_of[members] = 1
    bucket_of = bucket_of.cumsum(0)
    key = (lut_gather(slot_of, plane) * cells + cell).flatten()
    size = n * slots * cells
    if image.requires_grad:
        values = torch.cat((image, torch.ones_like(image[:, :1])), dim=1).permute(0, 2, 3, 1).reshape(-1, 4)
        sums = values.new_zeros(size, 4).index_add(0, key, values).view(n, slots, cells, 4).permute(0, 1, 3, 2)
    else:  # bincount is several times faster than index_add on the CPU, but has no gradient
        channels = [
            torch.bincount(key, weights=image[:, c].flatten(), minlength=size).to(image.dtype) for c in range(3)
        ]
        channels.append(torch.bincount(key, minlength=size).to(image.dtype))
        sums = torch.stack(channels, dim=1).view(n, slots, cells, 4).permute(0, 1, 3, 2)
    content = sums[:, :-1].reshape(n, len(members), 4, h // scale, w // scale) / scale**2
    # Coverage nearer than member k: the pixels whose plane is below it, i.e. at most k members at or below.
    counts = torch.bincount((lut_gather(bucket_of, plane) * cells + cell).flatten(), minlength=size)
    nearer = counts.view(n, slots, cells).cumsum(dim=1)[:, :-1].to(image.dtype) / scale**2
    return PooledPlanes(members, content, nearer.view(n, len(members), 1, h // scale, w // scale).clamp(0, 1))


def lut_gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table[index] for an integer tensor `index` of any shape (a look-up, cheaper than a search)."""
    return table[index]
