"""The text-to-image step: any diffusers pipeline that `DiffusionPipeline.from_pretrained` loads (Stable
Diffusion, SDXL, FLUX-style), located through the model registry, loaded once per process and device.

The pipeline runs in the registry entry's dtype on CUDA (float16 or bfloat16) and in float32 on the CPU, with
its progress bar off; its output is taken as tensors ("pt", sRGB in [0, 1]) and decoded to linear light.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import torch

from refocus_cli.colour import srgb_to_linear
from refocus_cli.errors import ModelUnavailableError, SettingsError, one_line
from refocus_cli.registry import ResolvedModel, resolve_model

DEFAULT_STEPS = 25
"""Denoising steps when neither the option nor the registry entry says."""
DEFAULT_GUIDANCE = 5.0
"""Classifier-free guidance when neither the option nor the registry entry says."""
SIZE_MULTIPLE = 16
"""Width and height must be multiples of this (8 for Stable Diffusion's VAE, 16 for FLUX's packed latents)."""


@dataclass(frozen=True)
class Prompting:
    """What to draw and how: the prompt, an optional negative prompt, seed, steps, guidance and size."""

    prompt: str
    negative_prompt: str | None = None
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    size_wh: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise SettingsError("the prompt is empty")
        if self.steps is not None and self.steps < 1:
            raise SettingsError(f"--steps must be 1 or more, got {self.steps}")
        if self.guidance is not None and not self.guidance >= 0:
            raise SettingsError(f"--guidance must be 0 or more, got {self.guidance}")
        if self.size_wh is not None:
            w, h = self.size_wh
            if w < SIZE_MULTIPLE or h < SIZE_MULTIPLE or w % SIZE_MULTIPLE or h % SIZE_MULTIPLE:
                raise SettingsError(f"--size {w}x{h}: width and height must be multiples of {SIZE_MULTIPLE}")


def locate_text_to_image(model: str | None, *, offline: bool) -> ResolvedModel:
    """The text-to-image model `--model` names (a registry name, a folder or a Hub id; None: the default).

    Raises:
        ModelUnavailableError: not on this machine (one line naming `refocus models fetch`).
    """
    return resolve_model(model, kind="text-to-image", offline=offline, download=False)


def generate_all_in_focus(resolved: ResolvedModel, prompting: Prompting, device: torch.device) -> torch.Tensor:
    """Run the text-to-image pipeline once.

    Returns:
        [1,3,H,W] linear light in [0, 1], on the CPU.

    Raises:
        ModelUnavailableError: the folder cannot be loaded as a diffusers pipeline (one line).
    """
    pipeline = _loaded(resolved.ref, resolved.revision, resolved.local_files_only, str(device), _dtype(resolved))
    entry = resolved.entry
    steps = prompting.steps or _entry_number(entry, "steps") or DEFAULT_STEPS
    guidance = prompting.guidance
    if guidance is None:
        guidance = _entry_number(entry, "guidance")
    if guidance is None:
        guidance = DEFAULT_GUIDANCE
    width, height = prompting.size_wh or _default_size(pipeline, entry)
    arguments: dict[str, Any] = {
        "prompt": prompting.prompt,
        "num_inference_steps": int(steps),
        "guidance_scale": float(guidance),
        "height": height,
        "width": width,
        "generator": torch.Generator(device="cpu").manual_seed(prompting.seed),
        "output_type": "pt",
    }
    if prompting.negative_prompt:
        if "negative_prompt" not in inspect.signature(pipeline.__call__).parameters:
            raise SettingsError(f"{resolved.name}: this pipeline takes no --negative-prompt")
        arguments["negative_prompt"] = prompting.negative_prompt
    with torch.no_grad():
        images = pipeline(**arguments).images  # [1,3,H,W] sRGB in [0, 1]
    srgb = torch.as_tensor(images[:1]).float().clamp(0.0, 1.0).cpu()
    return srgb_to_linear(srgb)


def _dtype(resolved: ResolvedModel) -> str:
    return getattr(resolved.entry, "dtype", None) or "float16"


def _entry_number(entry: object, name: str) -> float | None:
    value = getattr(entry, name, None)
    return float(value) if isinstance(value, int | float) else None


def _default_size(pipeline: Any, entry: object) -> tuple[int, int]:
    """The registry entry's resolution, else the UNet's or transformer's native sample size."""
    resolution = getattr(entry, "resolution_px", None)
    if isinstance(resolution, int) and resolution > 0:
        return resolution, resolution
    denoiser = getattr(pipeline, "unet", None) or getattr(pipeline, "transformer", None)
    sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
    scale = getattr(pipeline, "vae_scale_factor", 8)
    if isinstance(sample, int):
        side = sample * scale
        return side, side
    return 512, 512


@functools.lru_cache(maxsize=2)
def _loaded(ref: str, revision: str | None, local_files_only: bool, device: str, cuda_dtype: str) -> Any:
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from refocus_cli.depth.learned import diffusers_dtype_argument

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()  # the text encoder's "Loading weights" bar
    dtype = getattr(torch, cuda_dtype) if device.startswith("cuda") else torch.float32
    try:
        pipeline = DiffusionPipeline.from_pretrained(
            ref, revision=revision, local_files_only=local_files_only, **{diffusers_dtype_argument(): dtype}
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise ModelUnavailableError(
            f"text-to-image model {ref}: cannot be loaded as a diffusers pipeline ({one_line(exc)})"
        ) from exc
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)
