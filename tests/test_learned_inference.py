"""The learned engine's inference preparation computes what the model computed before: the low-resolution
upsampling convolution equals nearest x2 then a 3x3 convolution, and a prepared model (and its pipeline, tiles
included) gives the original's output with the same state dict."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.upsampling import Upsample2D

from refocus_cli.learned.inference import LowResUpsample2D, prepare_for_inference, upsample_conv
from refocus_cli.learned.model import RefocusModel
from refocus_cli.learned.pipeline import RefocusPipeline


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_upsample_conv_equals_nearest_upsampling_then_the_convolution(channels_last: bool, bias: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, 6, generator=generator)
    weight = torch.randn(4, 5, 3, 3, generator=generator)
    b = torch.randn(4, generator=generator) if bias else None
    expected = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), weight, b, padding=1)
    if channels_last:
        last = torch.channels_last
        x, weight = x.contiguous(memory_format=last), weight.contiguous(memory_format=last)
    out = upsample_conv(x, weight, b)
    assert out.shape == expected.shape == (2, 4, 14, 12)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def random_model(physics_prior: bool = True) -> RefocusModel:
    """A tiny model with every weight random (the residual's last layer too, so the UNet's output counts)."""
    torch.manual_seed(0)
    model = RefocusModel(block_out_channels=(8, 16, 16), norm_num_groups=4, physics_prior=physics_prior)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.2)
    return model.eval()


def test_a_prepared_model_gives_the_same_output_and_state_dict() -> None:
    model = random_model()
    prepared = prepare_for_inference(copy.deepcopy(model))
    assert sum(type(m) is LowResUpsample2D for m in prepared.modules()) == 2
    assert not any(type(m) is Upsample2D for m in prepared.modules())
    before, after = model.state_dict(), prepared.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[key], after[key]) for key in before)
    generator = torch.Generator().manual_seed(1)
    photo = torch.rand(2, 3, 24, 32, generator=generator) * 2 - 1
    delta = torch.rand(2, 1, 24, 32, generator=generator) - 0.5
    prior = torch.rand(2, 3, 24, 32, generator=generator) * 2 - 1
    k = torch.tensor([4.0, 12.0])
    with torch.no_grad():
        expected = model(photo, delta, k, prior=prior)
        out = prepared(photo, delta, k, prior=prior)
        noisy = torch.rand(2, 3, 24, 32, generator=generator)
        timestep = torch.tensor([500, 10])
        expected_step = model(photo, delta, k, noisy=noisy, timestep=timestep, prior=prior)
        out_step = prepared(photo, delta, k, noisy=noisy, timestep=timestep, prior=prior)
    assert float((expected - photo).abs().mean()) > 0.1  # the UNet's residual is not negligible here
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out_step, expected_step, atol=1e-4, rtol=1e-4)


def test_a_prepared_pipeline_gives_the_same_tiled_output() -> None:
    generator = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 40, 56, generator=generator)
    disparity = torch.rand(1, 1, 40, 56, generator=generator)
    pipeline = RefocusPipeline(random_model(), RefocusPipeline.default_scheduler())
    prepared = RefocusPipeline(prepare_for_inference(copy.deepcopy(pipeline.model)), pipeline.scheduler)
    settings = {"tile_px": 16, "halo_px": 8}
    expected = pipeline(image, disparity, 0.5, 8.0, **settings).images
    out = prepared(image, disparity, 0.5, 8.0, **settings).images
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_an_upsampling_to_an_explicit_size_runs_the_original_code() -> None:
    torch.manual_seed(3)
    original = Upsample2D(4, use_conv=True)
    prepared = copy.deepcopy(original)
    prepared.__class__ = LowResUpsample2D
    x = torch.randn(1, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(prepared(x, (11, 9)), original(x, (11, 9)))
        torch.testing.assert_close(prepared(x), original(x), atol=1e-5, rtol=1e-5)
