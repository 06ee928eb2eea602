"""The learned refocus engine: a diffusers model conditioned on the disparity difference to the new focal plane
and the blur level, its pipeline, the stacking constraint as a loss, and the training loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def bench_engine(checkpoint: Path, device: str) -> Any:
    """The learned engine as `refocus bench` compares it (`bench.engines.Engine`, named "learned")."""
    import torch

    from refocus_cli.bench.engines import Engine
    from refocus_cli.learned.engine import learned_render

    def render(image: torch.Tensor, disparity: torch.Tensor, focus: float, blur_k_px: float) -> torch.Tensor:
        out = learned_render(image, disparity, focus, blur_k_px, model=checkpoint, device=torch.device(device))
        return out.to(image.device)

    return Engine("learned", render, checkpoint)
