"""`RefocusPipeline`: the learned engine as a diffusers pipeline (model + scheduler), saved and loaded with
`save_pretrained` / `from_pretrained`.

One step by default: the model maps the photo and its conditions straight to the refocused image. With
`num_inference_steps` > 1 it samples with the DDIM scheduler instead (the model predicts the clean image,
`prediction_type="sample"`, from the photo, the conditions and the noisy estimate). Large images are processed
in tiles read with a halo of context around each core and only the core kept (memory stays bounded); the
physics prior a model may take (`learned.prior`) is rendered once on the whole image first, so its blur does
not depend on the tiles. On CUDA the model runs in bfloat16 (or float16), on the CPU in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler

from refocus_cli.learned.model import RefocusModel
from refocus_cli.learned.prior import from_model_space, physics_prior_linear, to_model_space
from refocus_cli.render.tiles import tile_windows


def autocast_for(device: torch.device) -> torch.autocast:
    """Mixed precision for the learned engine: bfloat16 (float16 where the GPU lacks it) on CUDA; none on the
    CPU."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


@dataclass(frozen=True)
class RefocusPipelineOutput:
    """images: [N,3,H,W] linear light, >= 0 (the refocused photos)."""

    images: torch.Tensor


class RefocusPipeline(DiffusionPipeline):
    """Refocus photos with a trained `RefocusModel`."""

    model: RefocusModel
    scheduler: DDIMScheduler

    def __init__(self, model: RefocusModel, scheduler: DDIMScheduler) -> None:
        super().__init__()
        self.register_modules(model=model, scheduler=scheduler)

    @staticmethod
    def default_scheduler() -> DDIMScheduler:
        """The few-step sampler the model is trained for: 1000 steps, clean-image prediction."""
        return DDIMScheduler(num_train_timesteps=1000, prediction_type="sample", clip_sample=True)

    def check_inputs(
        self, image: torch.Tensor, disparity: torch.Tensor, num_inference_steps: int, tile_px: int, halo_px: int
    ) -> None:
        """Shapes and settings, each problem named by its argument (ValueError)."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be [N,3,H,W], got {tuple(image.shape)}")
        if disparity.shape != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f"disparity must be [N,1,H,W] like the image, got {tuple(disparity.shape)}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be 1 or more, got {num_inference_steps}")
        if tile_px < 16 or halo_px < 0:
            raise ValueError(f"tile_px must be 16 or more and halo_px 0 or more, got {tile_px} and {halo_px}")

    @torch.no_grad()
    def __call__(
        self,
        image: torch.Tensor,
        disparity: torch.Tensor,
        focus_disparity: float | torch.Tensor,
        blur_k_px: float | torch.Tensor,
        *,
        num_inference_steps: int = 1,
        generator: torch.Generator | None = None,
        tile_px: int = 1024,
        halo_px: int = 64,
    ) -> RefocusPipelineOutput:
        """Refocus `image` on `focus_disparity` with blur K.

        Args:
            image: [N,3,H,W] linear light.
            disparity: [N,1,H,W] in [0, 1], 1 = nearest.
            focus_disparity: the new focal plane's disparity, one or [N].
            blur_k_px: K, CoC radius in pixels per unit disparity, one or [N].
            num_inference_steps: 1 for the one-step model, more for DDIM sampling.
            generator: seeds the sampler's noise (few-step only).
            tile_px, halo_px: core size of a tile and the context read around it.
        """
        self.check_inputs(image, disparity, num_inference_steps, tile_px, halo_px)
        n, _, h, w = image.shape
        device, model = self._execution_device, self.model
        # 1. model space: sRGB in [-1, 1], the disparity difference, K per image
        photo = to_model_space(image).to(device)  # [N,3,H,W]
        focus = torch.as_tensor(focus_disparity, dtype=torch.float32, device=device).reshape(-1).expand(n)
        k = torch.as_tensor(blur_k_px, dtype=torch.float32, device=device).reshape(-1).expand(n)
        delta = disparity.to(device, torch.float32) - focus.view(n, 1, 1, 1)  # [N,1,H,W]
        prior = None
        if model.physics_prior:
            rendered = physics_prior_linear(image.to(device, torch.float32).clamp(0.0, 1.0), delta, k)
            prior = to_model_space(rendered)  # [N,3,H,W]
        out = torch.empty_like(photo)
        # 2. tiles: read core + halo, pad to the model's size multiple, keep the core
        multiple = model.size_multiple
        for window in tile_windows(h, w, tile_px=tile_px, halo_px=halo_px, align=multiple):
            rows, cols = slice(window.read_top, window.read_bottom), slice(window.read_left, window.read_right)
            tile_prior = None if prior is None else prior[..., rows, cols]
            result = self._refocus_tile(
                photo[..., rows, cols], delta[..., rows, cols], tile_prior, k, num_inference_steps, generator
            )
            core_rows, core_cols = window.core_in_read
            out[..., window.core_top : window.core_bottom, window.core_left : window.core_right] = result[
                ..., core_rows, core_cols
            ]
        # 3. back to linear light
        linear = from_model_space(out)
        return RefocusPipelineOutput(images=linear.to(image.device, torch.float32))

    def _refocus_tile(
        self,
        photo: torch.Tensor,
        delta: torch.Tensor,
        prior: torch.Tensor | None,
        k: torch.Tensor,
        steps: int,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """One tile [N,3,h,w] in model space, padded (reflect) to the size multiple and cropped back."""
        h, w = photo.shape[-2:]
        multiple = self.model.size_multiple
        pad_h, pad_w = (-h) % multiple, (-w) % multiple
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        photo_p = F.pad(photo, (0, pad_w, 0, pad_h), mode=mode)
        delta_p = F.pad(delta, (0, pad_w, 0, pad_h), mode=mode)
        prior_p = None if prior is None else F.pad(prior, (0, pad_w, 0, pad_h), mode=mode)
        with autocast_for(photo.device):
            if steps == 1:
                result = self.model(photo_p, delta_p, k, prior=prior_p)
            else:
                result = self._sample(photo_p, delta_p, prior_p, k, steps, generator)
        return result.float()[..., :h, :w]

    def _sample(
        self,
        photo: torch.Tensor,
        delta: torch.Tensor,
        prior: torch.Tensor | None,
        k: torch.Tensor,
        steps: int,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """DDIM from noise, the model predicting the clean image at each step."""
        scheduler = self.scheduler
        scheduler.set_timesteps(steps, device=photo.device)
        noise = torch.randn(photo.shape, generator=generator, dtype=torch.float32).to(photo.device)
        sample = noise * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            timestep = t.expand(photo.shape[0]).to(photo.device)
            clean = self.model(photo, delta, k, noisy=sample, timestep=timestep, prior=prior)
            sample = scheduler.step(clean.float(), t, sample, return_dict=False)[0]
        return sample


def load_pipeline(folder: Path | str) -> RefocusPipeline:
    """A saved RefocusPipeline (diffusers layout), on the CPU in float32 (quietly: no loading bar)."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    return RefocusPipeline.from_pretrained(str(folder), low_cpu_mem_usage=False)
