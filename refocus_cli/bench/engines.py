"""The renderers the bench compares, behind one call, and where a learned engine's checkpoint is looked for.

An engine renders an all-in-focus image at a new focus: `render(image, disparity, focus_disparity, blur_k_px)`
with image [N,3,H,W] linear light, disparity [N,1,H,W] in [0, 1] (1 = nearest), K in pixels per unit
disparity; it returns [N,3,H,W] linear light on the input's device. `physics` is the layered renderer, the
`gather` baseline the naive per-pixel gather blur.

The learned engine: a checkpoint folder is one with a `model_index.json` (the diffusers `save_pretrained`
layout), given by `--model` (a folder or a registered refocus model's name, found by the registry's loader) or
found under `models/`; `learned_engine` wraps it as an engine named "learned" with
`checkpoint` set (so that a speed child can load it again). Its rows then join every table where the physics
engine has one; without a checkpoint one note says the rows are skipped, and no row is made up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.errors import SettingsError
from refocus_cli.learned.engine import CHECKPOINT_MARKER, MODELS_DIR, resolve_checkpoint
from refocus_cli.registry.resolve import names_a_model

if TYPE_CHECKING:
    import torch

RenderFn = Callable[["torch.Tensor", "torch.Tensor", float, float], "torch.Tensor"]

NO_CHECKPOINT_NOTE = "learned engine: no checkpoint found; its rows are skipped"


@dataclass(frozen=True)
class BenchEngine:
    """A renderer under a name; `checkpoint` is set for learned engines (a child process reloads it)."""

    name: str
    render: RenderFn
    checkpoint: Path | None = None


def _render_physics(image: torch.Tensor, disparity: torch.Tensor, focus: float, blur_k_px: float) -> torch.Tensor:
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.render.layered import render_layered

    return render_layered(image, signed_coc_px(disparity, focus, blur_k_px))


def _render_gather(image: torch.Tensor, disparity: torch.Tensor, focus: float, blur_k_px: float) -> torch.Tensor:
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.render.gather import render_gather

    return render_gather(image, signed_coc_px(disparity, focus, blur_k_px))


PHYSICS = BenchEngine("physics", _render_physics)
GATHER = BenchEngine("gather", _render_gather)
BASELINE_NAME = "naive gather"


def find_checkpoint(model: Path | None, models_dir: Path = MODELS_DIR) -> Path | None:
    """The learned engine's checkpoint: `model` when given (a folder or a registered refocus model's name, through
    the registry's loader), else the first folder (by name) under `models_dir` holding a `model_index.json`, else
    None.

    Raises:
        SettingsError: `model` is not a folder holding a saved pipeline.
        ModelUnavailableError: `model` names a registered model that is not a refocus model or not here.

    >>> find_checkpoint(None, Path("/nonexistent")) is None
    True
    """
    if model is not None:  # the learned engine's own rule, so the bench and `--engine learned` agree
        if not names_a_model(str(model)) and not (Path(model) / CHECKPOINT_MARKER).is_file():
            raise SettingsError(f"--model {model}: not a checkpoint folder (no {CHECKPOINT_MARKER} in it)")
        return resolve_checkpoint(model)
    if not models_dir.is_dir():
        return None
    found = sorted(path.parent for path in models_dir.glob(f"*/{CHECKPOINT_MARKER}"))
    return found[0] if found else None


def learned_engines(
    model: Path | None, device: str, models_dir: Path = MODELS_DIR
) -> tuple[list[BenchEngine], list[str]]:
    """The learned engines to compare beside the physics one, and notes for the reader (with no checkpoint: no
    engine and the note `NO_CHECKPOINT_NOTE`)."""
    checkpoint = find_checkpoint(model, models_dir)
    if checkpoint is None:
        return [], [NO_CHECKPOINT_NOTE]
    return [learned_engine(checkpoint, device)], []


def engine_named(name: str, checkpoint: Path | None, device: str) -> BenchEngine:
    """`physics`, `gather`, or a learned engine loaded from `checkpoint` (in a speed child)."""
    if name == PHYSICS.name:
        return PHYSICS
    if name == GATHER.name:
        return GATHER
    engines, notes = learned_engines(checkpoint, device)
    if not engines or engines[0].name != name:
        raise SettingsError(f"no engine named {name!r}: {'; '.join(notes) or 'unknown'}")
    return engines[0]


def learned_engine(checkpoint: Path, device: str) -> BenchEngine:
    """The learned engine from `checkpoint`, named "learned" (its checkpoint kept, so a speed child reloads it)."""
    import torch

    from refocus_cli.learned.engine import learned_render

    def render(image: torch.Tensor, disparity: torch.Tensor, focus: float, blur_k_px: float) -> torch.Tensor:
        out = learned_render(image, disparity, focus, blur_k_px, model=checkpoint, device=torch.device(device))
        return out.to(image.device)

    return BenchEngine("learned", render, checkpoint)
