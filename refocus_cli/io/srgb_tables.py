"""sRGB codes <-> linear light by table, for photos (`io.images.pixels_to_linear`, `io.image_writer.encode_srgb`)
and every frame of a video: the values of the sRGB formulas in `refocus_cli.colour`, in a few passes.

* decoding: one gather of the [2**bits] linear-light table, straight into channels-first order;
* encoding 8-bit: the 255 linear values at which the rounded code steps up (found once by bisection over the
  float32 numbers, with the very formula `encode_srgb` computes, so the codes are the same bit for bit) and a
  table of 4096 equal bins of [0, 1]: a bin holds at most one step (the steepest part of the sRGB curve, the
  linear toe, climbs 12.92 x 255 = 3294 codes per unit, fewer than 4096), so a code is the bin's first code
  plus one compare. Deeper output (10-16 bit) is computed by the formula.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from refocus_cli.colour import linear_to_srgb, srgb_to_linear

BINS = 4096
"""Equal bins of [0, 1] in the 8-bit encoding table; more than the sRGB curve's steepest slope in codes."""


def codes_to_linear(pixels: np.ndarray, bit_depth: int | None = None) -> torch.Tensor:
    """[H,W,3] integer sRGB codes -> [1,3,H,W] float32 linear light: `srgb_to_linear(code / (2**bits - 1))`,
    gathered from a table straight into channels-first order.

    Args:
        pixels: the codes; uint8, uint16 or any integer type.
        bit_depth: bits per sample; None = 8 for uint8, else 16.

    >>> codes_to_linear(np.zeros((2, 5, 3), np.uint8)).shape
    torch.Size([1, 3, 2, 5])
    """
    bits = bit_depth or (8 if pixels.dtype == np.uint8 else 16)
    return torch.from_numpy(np.take(_linear_table_np(bits), pixels.transpose(2, 0, 1)))[None]


def linear_to_codes(linear: torch.Tensor, bit_depth: int) -> np.ndarray:
    """[1,3,H,W] or [3,H,W] linear light -> [H,W,3] sRGB codes, rounded: uint8 for `bit_depth` <= 8 (by table)
    else full-range 16-bit uint16 (by the formula).  NaN becomes 0; values clip to [0, 1] first."""
    image = linear[0] if linear.dim() == 4 else linear
    x = np.nan_to_num(image.detach().to("cpu", torch.float32).numpy(), nan=0.0)  # a copy: [3,H,W]
    np.clip(x, 0.0, 1.0, out=x)
    if bit_depth > 8:
        codes16 = (linear_to_srgb(torch.from_numpy(x)) * 65535.0).round().to(torch.int32).numpy()
        return np.ascontiguousarray(codes16.transpose(1, 2, 0), np.uint16)
    first_code, next_step = _encode_tables()
    bins = (x * np.float32(BINS)).astype(np.intp)  # exact: a power-of-two scale, then the floor
    codes = first_code.take(bins)
    codes += x >= next_step.take(bins)
    return np.ascontiguousarray(codes.transpose(1, 2, 0))


@functools.cache
def _linear_table_np(bit_depth: int) -> np.ndarray:
    """[2**bit_depth] float32 linear light of every code (the table `codes_to_linear` gathers from)."""
    codes = torch.arange(2**bit_depth, dtype=torch.float32) / float(2**bit_depth - 1)
    return srgb_to_linear(codes).numpy()


@functools.cache
def _encode_tables() -> tuple[np.ndarray, np.ndarray]:
    """([BINS + 1] uint8 code at each bin's start, [BINS + 1] float32 linear value of the next code's step)."""
    steps = srgb8_steps()
    edges = torch.arange(BINS + 1, dtype=torch.float32) / BINS
    first = torch.bucketize(edges, steps, right=True)  # codes whose step lies at or below the edge
    after = torch.cat([steps, torch.tensor([float("inf")])])[first]
    return first.to(torch.uint8).numpy(), after.numpy()


@functools.cache
def srgb8_steps() -> torch.Tensor:
    """[255] float32: entry k - 1 is the least linear value that `encode_srgb(.., 8)` codes as k or more."""

    def code(x: torch.Tensor) -> torch.Tensor:  # encode_srgb's arithmetic, per value
        return (linear_to_srgb(x) * 255.0).round().to(torch.int32)

    wanted = torch.arange(1, 256, dtype=torch.int32)
    low = torch.zeros(255, dtype=torch.int32)  # bit patterns of non-negative float32 sort as the numbers do
    high = torch.full((255,), int(torch.tensor(1.0).view(torch.int32)), dtype=torch.int32)
    while bool((high - low > 1).any()):
        middle = low + (high - low) // 2
        reached = code(middle.view(torch.float32)) >= wanted
        high, low = torch.where(reached, middle, high), torch.where(reached, low, middle)
    return high.view(torch.float32).clone()
