"""The table conversions of video frames give the very codes and linear values of the per-pixel ones."""

from __future__ import annotations

import numpy as np
import torch

from refocus_cli.io.image_writer import encode_srgb
from refocus_cli.io.images import pixels_to_linear
from refocus_cli.io.srgb_tables import codes_to_linear, linear_to_codes, srgb8_steps


def test_decoding_equals_pixels_to_linear_8_and_16_bit() -> None:
    rng = np.random.default_rng(0)
    for dtype, bits in ((np.uint8, 8), (np.uint16, 16)):
        pixels = rng.integers(0, 2**bits, size=(7, 9, 3)).astype(dtype)
        pixels[0, :3, 0] = [0, 2**bits - 1, 1]
        assert torch.equal(codes_to_linear(pixels), pixels_to_linear(pixels, bits))
        assert codes_to_linear(pixels).is_contiguous()


def test_steps_rise_and_each_is_where_the_code_changes() -> None:
    steps = srgb8_steps()
    assert steps.shape == (255,) and bool((steps[1:] > steps[:-1]).all())
    below = torch.nextafter(steps, torch.zeros(()))
    image = torch.stack([steps, below, steps]).reshape(1, 3, 1, 255)
    codes = encode_srgb(image, 8)[0]  # [255,3]
    assert np.array_equal(codes[:, 0], np.arange(1, 256))  # at the step: the new code
    assert np.array_equal(codes[:, 1], np.arange(0, 255))  # one float below: still the old one


def test_encoding_equals_encode_srgb_everywhere_that_matters() -> None:
    generator = torch.Generator().manual_seed(1)
    linear = torch.rand(1, 3, 40, 64, generator=generator) ** 2.4
    steps = srgb8_steps()
    row = torch.cat([steps, torch.nextafter(steps, torch.zeros(())), torch.nextafter(steps, torch.ones(()))])
    linear[0, 0, :12] = torch.nn.functional.pad(row, (0, 12 * 64 - row.numel()), value=0.5).reshape(12, 64)
    linear[0, 1, 0, :5] = torch.tensor([float("nan"), -0.5, 1.0, 7.0, 0.0])
    assert np.array_equal(linear_to_codes(linear, 8), encode_srgb(linear, 8))
    assert linear_to_codes(linear, 8).dtype == np.uint8 and linear_to_codes(linear, 8).shape == (40, 64, 3)


def test_deep_output_goes_through_encode_srgb() -> None:
    linear = torch.rand(1, 3, 4, 5, generator=torch.Generator().manual_seed(2))
    assert np.array_equal(linear_to_codes(linear, 10), encode_srgb(linear, 16))
