"""The learned engine behind `--engine learned`: find the checkpoint, load it once per process, render.

A checkpoint is a `RefocusPipeline` folder in diffusers' layout (`model_index.json`, `model/`, `scheduler/`),
found by the model registry's loader (`refocus_cli.registry.resolve_model`, kind "refocus"): the folder or
registered name `--model` gives, else the registry's default, the project's own `refocus-small` (in
`models/refocus-small`). Without one the engine says so in one line and how to get one; it never falls back
silently, and never downloads.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from refocus_cli.errors import ModelUnavailableError, one_line
from refocus_cli.registry.resolve import names_a_model, resolve_model

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "models"
CHECKPOINT_MARKER = "model_index.json"
TRAIN_HINT = "train one with `refocus train --data DATASET --out RUN` and pass --model RUN/pipeline"


def resolve_checkpoint(model: str | Path | None) -> Path:
    """The checkpoint folder for `--model`: a folder, a registered refocus model's name, or None for the
    registry's default.

    Raises:
        ModelUnavailableError: no such folder or registered model, a registered model that is not here, or a
            folder that holds no saved pipeline (one line each).
    """
    name = None if model is None else str(model)
    if name is not None and not Path(name).expanduser().exists() and not names_a_model(name):
        raise ModelUnavailableError(
            f"learned engine: --model {name} holds no saved pipeline (no such folder, and not a registered model: "
            f"see `refocus models`); {TRAIN_HINT}"
        )
    resolved = resolve_model(name, kind="refocus", offline=True, download=False)
    folder = Path(resolved.ref)
    if not (folder / CHECKPOINT_MARKER).is_file():
        raise ModelUnavailableError(
            f"learned engine: --model {resolved.name} holds no saved pipeline ({CHECKPOINT_MARKER}); {TRAIN_HINT}"
        )
    return folder


@functools.lru_cache(maxsize=4)
def _loaded(path: str, device: str) -> object:
    from refocus_cli.learned.inference import prepare_for_inference
    from refocus_cli.learned.pipeline import load_pipeline

    try:
        pipeline = load_pipeline(Path(path)).to(device)
        prepare_for_inference(pipeline.model)
        return pipeline
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelUnavailableError(f"learned engine: {path} cannot be loaded ({one_line(exc)})") from exc


def load_engine(model: str | Path | None, device: torch.device):
    """The checkpoint's pipeline on `device`, loaded once per process and prepared for inference
    (`learned.inference`: the same output, faster)."""
    return _loaded(str(resolve_checkpoint(model).resolve()), str(device))


def equivalent_blur_k(coc_px: torch.Tensor, disparity: torch.Tensor, focus_disparity: float) -> float:
    """K such that K (d - d_focus) best fits a CoC map (least squares): physical settings as the model's blur.

    >>> d = torch.tensor([[[[0.2, 0.8]]]]); round(equivalent_blur_k(12 * (d - 0.5), d, 0.5), 6)
    12.0
    """
    delta = disparity - focus_disparity
    denominator = float((delta * delta).sum())
    return float((coc_px * delta).sum()) / denominator if denominator > 0 else 0.0


def learned_render(
    image: torch.Tensor,
    disparity: torch.Tensor,
    focus_disparity: float | torch.Tensor,
    blur_k_px: float | torch.Tensor,
    *,
    model: str | Path | None,
    device: torch.device,
) -> torch.Tensor:
    """[N,3,H,W] linear light refocused by the learned engine (one step), on the CPU; the focus disparity and
    K are one for all or one per image ([N]).

    Raises:
        ModelUnavailableError: no checkpoint (see `resolve_checkpoint`).
    """
    pipeline = load_engine(model, device)
    output = pipeline(image.to(device), disparity.to(device), focus_disparity, blur_k_px)
    return output.images.cpu()
