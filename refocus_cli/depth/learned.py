"""Learned monocular depth: transformers depth models (Depth Anything) and diffusers Marigold -> disparity.

Both families give relative depth, known up to an unknown scale and shift, so the result is min-max normalised
to the library's disparity in [0, 1] (1 = nearest) and carries no metric depth, except for Depth Anything models
trained for metric depth (`depth_estimation_type == "metric"`), whose output is metres.

* Depth Anything (and DPT) predict relative inverse depth, i.e. disparity: upsampled to the image (bilinear) and
  normalised.
* Marigold predicts affine-invariant depth a in [0, 1] (0 near, 1 far): true depth z = s * a + t with unknown
  s > 0, t > 0. Disparity 1 / z = 1 / (s * a + t) needs the ratio t / s, which the model does not give; we take
  d = 1 - a (then normalised). It is the limit of a large t / s (a scene deep in the distance compared with its
  own depth range), keeps the order of the pixels, and stays bounded where the exact inverse with a guessed
  near plane would blow up. (Marigold checkpoints with `prediction_type == "disparity"` are used as they are.)

Models are named by a registry name, a Hub id or a folder (see `refocus_cli.depth.models`), loaded once per
process and device, and run without autograd; transformers and diffusers are imported on first use only.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from refocus_cli.colour import linear_to_srgb
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL, LocatedModel, locate_model
from refocus_cli.errors import DepthUnavailableError, one_line
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.registry.resolve import is_offline

__all__ = ["DEFAULT_DEPTH_MODEL", "estimate_depth"]
MARIGOLD_DEFAULT_STEPS = 4
"""Denoising steps when a Marigold checkpoint does not name its own `default_denoising_steps`."""
MARIGOLD_DEFAULT_RESOLUTION = 768
"""Processing resolution (longer edge, px) when a checkpoint does not name `default_processing_resolution`."""
MARIGOLD_SEED = 0
"""Seed of Marigold's initial noise when no generator is given, so a photo always gets the same depth."""
MIN_DEPTH_M = 1e-3
"""Metric depths below this are clamped before inversion."""

Estimator = Callable[[torch.Tensor, "torch.Generator | None"], tuple[torch.Tensor, "torch.Tensor | None"]]
"""sRGB [1,3,H,W] in [0, 1] on the model's device, generator -> (disparity [1,1,H,W] float32 in [0, 1],
metric depth [1,1,H,W] metres or None)."""


def estimate_depth(
    linear: torch.Tensor,
    model: str,
    *,
    device: torch.device,
    offline: bool,
    generator: torch.Generator | None = None,
) -> DepthMap:
    """Estimate the depth of a photo with a learned model.

    Args:
        linear: [1,3,H,W] float, linear light, values >= 0 (above 1 clips to white for the model).
        model: a registry name ("depth-anything-v2-small", "marigold-depth": see `refocus models`), a Hub id
            ("org/name") or a folder holding a transformers depth model (config.json) or a Marigold pipeline
            (model_index.json); found by the registry's loader (`refocus_cli.registry.resolve_model`).
        device: where the model runs (float32 on the CPU; Marigold runs in float16 on CUDA).
        offline: never download (also when HF_HUB_OFFLINE=1); a registered model or Hub id must then be in the
            cache (a registered one at its pinned revision).
        generator: Marigold's initial noise; None seeds it with `MARIGOLD_SEED` (unused by other models).

    Returns:
        DepthMap: disparity [1,1,H,W] float32 in [0, 1] (1 = nearest) on `linear`'s device, metric depth in
        metres for metric models else None, source "model:<model>".

    Raises:
        DepthUnavailableError: the model is missing, cannot be downloaded, or cannot be loaded (one line).
        ValueError: `linear` is not [1,3,H,W].
    """
    if linear.ndim != 4 or linear.shape[0] != 1 or linear.shape[1] != 3:
        raise ValueError(f"linear must be [1,3,H,W], got {list(linear.shape)}")
    estimator = _estimator(model, torch.device(device), offline)
    srgb = linear_to_srgb(linear.to(device=device, dtype=torch.float32))  # [1,3,H,W] in [0, 1]
    with torch.no_grad():
        disparity, metric_depth_m = estimator(srgb, generator)
    if not bool(torch.isfinite(disparity).all()):
        raise DepthUnavailableError(f"depth model {model} produced NaN or infinite values (broken weights?)")
    return DepthMap(
        disparity=disparity.to(device=linear.device, dtype=torch.float32),
        metric_depth_m=None if metric_depth_m is None else metric_depth_m.to(linear.device, torch.float32),
        source=f"model:{model}",
    )


@functools.lru_cache(maxsize=4)
def _estimator(model: str, device: torch.device, offline: bool) -> Estimator:
    """Locate and load a model once per (model, device, offline); a model only partly cached is completed."""
    location = locate_model(model, offline=offline)
    try:
        return _load(location, device)
    except _load_errors() as exc:
        if location.where != "cache":
            raise DepthUnavailableError(f"depth model {model}: cannot load it ({one_line(exc)})") from exc
        if is_offline(offline):
            how = f"hf download {location.repo}" if location.repo == model else f"refocus models fetch {model}"
            raise DepthUnavailableError(
                f"depth model {model}: cannot load it from the Hugging Face cache ({one_line(exc)}) and offline mode "
                f"prevents fetching what is missing; run `{how}` while online"
            ) from exc
    location = location.on_the_hub()  # cached in part: download the rest
    try:
        return _load(location, device)
    except _load_errors() as exc:
        raise DepthUnavailableError(f"depth model {model}: cannot load it ({one_line(exc)})") from exc


def _load_errors() -> tuple[type[Exception], ...]:
    """What a broken or incomplete model folder makes `from_pretrained` raise."""
    from safetensors import SafetensorError

    return (OSError, ValueError, RuntimeError, KeyError, SafetensorError)


def _load(location: LocatedModel, device: torch.device) -> Estimator:
    if location.family == "marigold":
        return _load_marigold(location, device)
    return _load_transformers(location, device)


def _load_transformers(location: LocatedModel, device: torch.device) -> Estimator:
    """A transformers depth model and its image processor (the PIL one: no torchvision needed)."""
    import transformers
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    pil_backend: dict[str, Any] = (
        {"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5 else {"use_fast": False}
    )
    pinned: dict[str, Any] = {} if location.revision is None else {"revision": location.revision}
    processor = AutoImageProcessor.from_pretrained(
        location.ref, local_files_only=location.local_files_only, **pinned, **pil_backend
    )
    net = AutoModelForDepthEstimation.from_pretrained(
        location.ref, local_files_only=location.local_files_only, **pinned
    )
    net = net.to(device=device, dtype=torch.float32).eval()
    is_metric = getattr(net.config, "depth_estimation_type", "relative") == "metric"

    def estimate(srgb: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        inputs = processor(
            images=srgb[0].cpu(), return_tensors="pt", do_rescale=False, input_data_format="channels_first"
        )
        pixels = inputs["pixel_values"].to(device=device, dtype=torch.float32)  # [1,3,h,w]
        predicted = net(pixel_values=pixels).predicted_depth[:, None].float()  # [1,1,h,w]
        predicted = F.interpolate(predicted, size=srgb.shape[-2:], mode="bilinear", align_corners=False)
        if is_metric:
            depth_m = predicted.clamp_min(MIN_DEPTH_M)  # [1,1,H,W] metres
            return _normalise(1.0 / depth_m), depth_m
        return _normalise(predicted), None  # relative inverse depth = disparity

    return estimate


def _load_marigold(location: LocatedModel, device: torch.device) -> Estimator:
    """A diffusers Marigold depth pipeline, run with its own few-step defaults and one ensemble member."""
    from diffusers import MarigoldDepthPipeline

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipe = MarigoldDepthPipeline.from_pretrained(
        location.ref,
        revision=location.revision,
        local_files_only=location.local_files_only,
        low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None,
        **{diffusers_dtype_argument(): dtype},
    ).to(device)
    pipe.set_progress_bar_config(disable=True)
    steps = pipe.config.get("default_denoising_steps") or MARIGOLD_DEFAULT_STEPS
    resolution = pipe.config.get("default_processing_resolution") or MARIGOLD_DEFAULT_RESOLUTION
    predicts_disparity = pipe.config.get("prediction_type") == "disparity"

    def estimate(srgb: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        noise = generator if generator is not None else torch.Generator(device=device).manual_seed(MARIGOLD_SEED)
        output = pipe(
            srgb.to(dtype),
            num_inference_steps=steps,
            ensemble_size=1,
            processing_resolution=resolution,
            output_type="pt",
            generator=noise,
        )
        prediction = output.prediction.float()  # [1,1,H,W] in [0, 1]; depth: 0 near, 1 far
        return _normalise(prediction if predicts_disparity else 1.0 - prediction), None

    return estimate


def diffusers_dtype_argument() -> str:
    """`from_pretrained`'s dtype keyword: "dtype" in diffusers releases that deprecate "torch_dtype"."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _normalise(values: torch.Tensor) -> torch.Tensor:
    """Min-max normalise finite [1,1,H,W] values to [0, 1]; a constant map becomes one plane, 0.5.

    >>> _normalise(torch.tensor([[[[2.0, 4.0, 3.0]]]])).tolist()
    [[[[0.0, 1.0, 0.5]]]]
    """
    low, high = values.amin(), values.amax()
    if float(high - low) <= 1e-12 * max(float(high.abs()), 1.0):
        return torch.full_like(values, 0.5)
    return ((values - low) / (high - low)).clamp(0.0, 1.0)
