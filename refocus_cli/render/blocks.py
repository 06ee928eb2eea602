"""Block-sparse rendering of full-resolution planes: only the 16x16 blocks near a plane's own pixels are
gathered (with a halo), processed as one batch and scattered back."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.aperture import kernel_radius_px
from refocus_cli.render.planes import FILL_SCALE, PlanePlan

BLOCK = 16  # block side in pixels
__all__ = ["BLOCK", "FILL_SCALE", "BlockRanges", "Blocks", "block_halo"]


@dataclass(frozen=True)
class BlockRanges:
    """The nearest and farthest plane in every BLOCK x BLOCK block of a window."""

    lowest: torch.Tensor  # [N,1,nby,nbx]
    highest: torch.Tensor  # [N,1,nby,nbx]

    @classmethod
    def of(cls, plane: torch.Tensor) -> BlockRanges:
        return cls(-F.max_pool2d(-plane, BLOCK), F.max_pool2d(plane, BLOCK))

    def active(self, i: int, plan: PlanePlan, *, nearer_max_px: float) -> Blocks:
        """Blocks plane i can touch: those holding its pixels, widened far enough for its blur and for the
        hidden part that the nearer planes' blur can reveal."""
        present = ((self.lowest <= i) & (self.highest >= i)).float()
        grow = math.ceil((nearer_max_px + abs(plan.radius_px) + 2) / BLOCK)
        if grow:
            present = F.max_pool2d(present, 2 * grow + 1, stride=1, padding=grow)
        where = torch.nonzero(present[:, 0] > 0)
        return Blocks(where[:, 0], where[:, 1], where[:, 2], block_halo(plan))


def block_halo(plan: PlanePlan) -> int:
    """Pixels around a block that the plane's kernels reach."""
    return max(kernel_radius_px(plan.radius_px), kernel_radius_px(plan.next_radius_px))


@dataclass(frozen=True)
class Blocks:
    """A set of BLOCK x BLOCK blocks of a window: gathered with a halo into a batch, scattered back."""

    batch: torch.Tensor  # [K] image of the batch each block is in
    rows: torch.Tensor  # [K] block row
    cols: torch.Tensor  # [K] block column
    halo: int

    def gather(self, x: torch.Tensor, *, halo: int = 0, padded_by: int = 0) -> torch.Tensor:
        """[K,C,B+2*halo,B+2*halo] copies of the blocks of [N,C,H,W] with `halo` pixels around them; `x` may
        come already padded by `padded_by` >= halo pixels on every side (else edges are extended here)."""
        if padded_by:
            trim = padded_by - halo
            x = x[..., trim : x.shape[-2] - trim, trim : x.shape[-1] - trim]
        elif halo:
            x = F.pad(x, (halo, halo, halo, halo), mode="replicate")
        size = BLOCK + 2 * halo
        tiles = x.unfold(2, size, BLOCK).unfold(3, size, BLOCK)  # [N,C,nby,nbx,size,size], a view
        return tiles[self.batch, :, self.rows, self.cols]

    def gather_upsampled(self, coarse: torch.Tensor) -> torch.Tensor:
        """Blocks, with the halo, of the bilinear x_FILL_SCALE upsampling of [N,C,H/s,W/s] (align_corners=False),
        computed from the coarse cells around each block only."""
        s = FILL_SCALE
        # Coarse cells around the block: enough that the bilinear weights of every pixel out to the halo
        # come from cells inside the tile (pixel -halo sits at coarse coordinate (-halo + 0.5) / s - 0.5).
        margin = math.ceil((self.halo - 0.5) / s + 0.5)
        cells = BLOCK // s + 2 * margin
        padded = F.pad(coarse, (margin, margin, margin, margin), mode="replicate")
        tiles = padded.unfold(2, cells, BLOCK // s).unfold(3, cells, BLOCK // s)
        up = F.interpolate(
            tiles[self.batch, :, self.rows, self.cols], scale_factor=s, mode="bilinear", align_corners=False
        )
        start = margin * s - self.halo
        return up[..., start : start + BLOCK + 2 * self.halo, start : start + BLOCK + 2 * self.halo]

    def scatter_(self, x: torch.Tensor, blocks: torch.Tensor) -> None:
        """Replace the blocks of [N,C,H,W] by [K,C,B,B], in place."""
        n, c, h, w = x.shape
        view = x.view(n, c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).permute(0, 1, 2, 4, 3, 5)
        view[self.batch, :, self.rows, self.cols] = blocks
