"""The table conversions of photos and video frames give the very codes and linear values of the sRGB formulas."""

from __future__ import annotations

import numpy as np
import torch

from refocus_cli.colour import linear_to_srgb, srgb_to_linear
from refocus_cli.io.image_writer import encode_srgb
from refocus_cli.io.srgb_tables import codes_to_linear, linear_to_codes, srgb8_steps


def by_formula(linear: torch.Tensor, top: float) -> np.ndarray:
    """The codes computed per pixel: NaN to 0, clipped, encoded, scaled and rounded ([H,W,3] int64)."""
    clipped = torch.nan_to_num(linear[0], nan=0.0).clamp(0.0, 1.0)
    return (linear_to_srgb(clipped) * top).round().to(torch.int64).permute(1, 2, 0).numpy()


def test_decoding_equals_the_formula_8_and_16_bit() -> None:
    rng = np.random.default_rng(0)
    for dtype, bits in ((np.uint8, 8), (np.uint16, 16)):
        pixels = rng.integers(0, 2**bits, size=(7, 9, 3)).astype(dtype)
        pixels[0, :3, 0] = [0, 2**bits - 1, 1]
        expected = srgb_to_linear(torch.from_numpy(pixels.astype(np.float32)) / float(2**bits - 1))
        # the table and the per-pixel formula agree to the float32 rounding of the vectorised power (1 ulp)
        torch.testing.assert_close(codes_to_linear(pixels), expected.permute(2, 0, 1)[None], rtol=3e-7, atol=1e-12)
        assert codes_to_linear(pixels).is_contiguous()


def test_steps_rise_and_each_is_where_the_code_changes() -> None:
    steps = srgb8_steps()
    assert steps.shape == (255,) and bool((steps[1:] > steps[:-1]).all())
    below = torch.nextafter(steps, torch.zeros(()))
    image = torch.stack([steps, below, steps]).reshape(1, 3, 1, 255)
    codes = by_formula(image, 255.0)[0]  # [255,3]
    assert np.array_equal(codes[:, 0], np.arange(1, 256))  # at the step: the new code
    assert np.array_equal(codes[:, 1], np.arange(0, 255))  # one float below: still the old one


def test_encoding_equals_the_formula_everywhere_that_matters() -> None:
    generator = torch.Generator().manual_seed(1)
    linear = torch.rand(1, 3, 40, 64, generator=generator) ** 2.4
    steps = srgb8_steps()
    row = torch.cat([steps, torch.nextafter(steps, torch.zeros(())), torch.nextafter(steps, torch.ones(()))])
    linear[0, 0, :12] = torch.nn.functional.pad(row, (0, 12 * 64 - row.numel()), value=0.5).reshape(12, 64)
    linear[0, 1, 0, :5] = torch.tensor([float("nan"), -0.5, 1.0, 7.0, 0.0])
    assert np.array_equal(linear_to_codes(linear, 8), by_formula(linear, 255.0))
    assert np.array_equal(encode_srgb(linear, 8), by_formula(linear, 255.0))
    assert linear_to_codes(linear, 8).dtype == np.uint8 and linear_to_codes(linear, 8).shape == (40, 64, 3)


def test_deep_output_is_full_range_16_bit_by_the_formula() -> None:
    linear = torch.rand(1, 3, 4, 5, generator=torch.Generator().manual_seed(2))
    linear[0, 0, 0, :3] = torch.tensor([float("nan"), -1.0, 3.0])
    for bits in (10, 16):
        codes = linear_to_codes(linear, bits)
        assert codes.dtype == np.uint16 and np.array_equal(codes, by_formula(linear, 65535.0))
