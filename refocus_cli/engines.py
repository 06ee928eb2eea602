"""Render a refocus with the physics or the learned engine, and the restore step before it: the one place every
job (image, video, stack, bench) turns a photo, its depth and a CoC map into the refocused picture.

The physics engine is the layered, occlusion-aware renderer of the CoC map (no weights). The learned engine is
our diffusers model, found by the one checkpoint rule (`refocus_cli.learned.engine.resolve_checkpoint`); it is
conditioned on the disparity, the focus and K (in physical mode, the K that best fits the camera's CoC map).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from refocus_cli.errors import SettingsError

if TYPE_CHECKING:
    import torch

    from refocus_cli.aperture import ApertureShape

ENGINES = ("physics", "learned")
RESTORE_MODES = ("auto", "on", "off")


def check_engine(engine: str, restore: str) -> None:
    """Raise `SettingsError` for an engine or restore mode that does not exist (before any pixel is read)."""
    if engine not in ENGINES:
        raise SettingsError(f"--engine must be physics or learned, got {engine!r}")
    if restore not in RESTORE_MODES:
        raise SettingsError(f"--restore must be one of {', '.join(RESTORE_MODES)}, got {restore!r}")


def restore_step(
    linear: torch.Tensor, disparity: torch.Tensor, mode: str
) -> tuple[torch.Tensor, dict[str, Any] | None]:
    """The photo to render from: as read (`off`), or its all-in-focus estimate (`on`; `auto` only when the fitted
    blur of the photo is worth undoing), with what restore found (for --json; None when off).

    Args:
        linear: [1,3,H,W] linear light.
        disparity: [1,1,H,W] in [0, 1], 1 = nearest.
        mode: auto, on or off.
    """
    check_engine(ENGINES[0], mode)
    if mode == "off":
        return linear, None
    from refocus_cli.restore.pipeline import restore_all_in_focus

    result = restore_all_in_focus(linear, disparity, mode="always" if mode == "on" else "auto")
    fitted = result.photo_defocus
    return result.all_in_focus, {
        "mode": mode,
        "restored": result.restored,
        "photo_blur_k_px": round(fitted.k0_px, 3),
        "photo_focus_disparity": round(fitted.focus_disparity, 4),
    }


def render_refocus(
    engine: str,
    image: torch.Tensor,
    disparity: torch.Tensor,
    coc: torch.Tensor,
    focus_disparity: float | torch.Tensor,
    blur_k_px: float | torch.Tensor | None,
    *,
    aperture: ApertureShape,
    quality: str,
    model: str | Path | None,
    device: torch.device,
) -> torch.Tensor:
    """[N,3,H,W] linear light on the CPU: the physics engine from the CoC map, or the learned engine.

    Args:
        engine: physics or learned.
        image: [N,3,H,W] linear light (restored and highlight-boosted already).
        disparity: [N,1,H,W] in [0, 1].
        coc: [N,1,H,W] signed CoC radius in pixels.
        focus_disparity: one for all, or [N].
        blur_k_px: K, one for all or [N]; None in physical mode (the learned engine takes the K that best fits
            the CoC map).
        aperture, quality: the physics engine's aperture shape and quality (fast or fine).
        model: the learned engine's checkpoint (a folder or a registered name; None: the default).
        device: where to render.
    """
    check_engine(engine, "off")
    if engine == "learned":
        from refocus_cli.learned.engine import equivalent_blur_k, learned_render

        k = blur_k_px
        if k is None:
            k = equivalent_blur_k(coc, disparity, float(focus_disparity))
        return learned_render(image, disparity, focus_disparity, k, model=model, device=device)
    from refocus_cli.render.layered import render_layered
    from refocus_cli.render.planes import settings_for_quality

    return render_layered(image.to(device), coc.to(device), aperture, settings_for_quality(quality)).cpu()
