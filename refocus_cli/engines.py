"""Render a refocus with the physics or the learned engine, and the restore step before it: the one place every
job (image, video, stack, bench) turns a photo, its depth and a CoC map into the refocused picture.

The physics engine is the layered, occlusion-aware renderer of the CoC map (no weights). The learned engine is
our diffusers model, found by the one checkpoint rule (`refocus_cli.learned.engine.resolve_checkpoint`); it is
conditioned on the disparity, the focus and K (in physical mode, the K that best fits the camera's CoC map).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from refocus_cli.errors import SettingsError

if TYPE_CHECKING:
    from refocus_cli.aperture import ApertureShape
    from refocus_cli.restore.fit import PhotoDefocus

ENGINES = ("physics", "learned")
RESTORE_MODES = ("auto", "on", "off")
RESTORE_MIN_BLUR_PX = 1.0
"""Under this much of the photo's own blur (its largest fitted radius), there is nothing to undo."""


def check_engine(engine: str, restore: str) -> None:
    """Raise `SettingsError` for an engine or restore mode that does not exist (before any pixel is read)."""
    if engine not in ENGINES:
        raise SettingsError(f"--engine must be physics or learned, got {engine!r}")
    if restore not in RESTORE_MODES:
        raise SettingsError(f"--restore must be one of {', '.join(RESTORE_MODES)}, got {restore!r}")


@dataclass(frozen=True)
class RestoredPhoto:
    """The photo to render from, after the restore step.

    Attributes:
        image: [N,3,H,W] linear light: the photo as read, or its all-in-focus estimate.
        residual_radius_px: [N,1,H,W] blur radius (pixels) still in `image` at each pixel, or None when not
            known (restore off); the render adds only the blur that is missing (`added_coc_px`).
        record: what restore found, for --json (None when off).
        photo_defocus: the photo's own blur, fitted or given (None when off).
    """

    image: torch.Tensor
    residual_radius_px: torch.Tensor | None
    record: dict[str, Any] | None
    photo_defocus: PhotoDefocus | None = None


def restore_step(
    linear: torch.Tensor, disparity: torch.Tensor, mode: str, *, photo_defocus: PhotoDefocus | None = None
) -> RestoredPhoto:
    """The photo to render from: as read (`off`), or its all-in-focus estimate (`on`; `auto` only when the fitted
    blur of the photo is worth undoing), with the blur left in it and what restore found.

    Args:
        linear: [1,3,H,W] linear light.
        disparity: [1,1,H,W] in [0, 1], 1 = nearest.
        mode: auto, on or off.
        photo_defocus: the photo's own blur when already fitted (a video fits once per window); fitted from
            this photo otherwise.
    """
    check_engine(ENGINES[0], mode)
    if mode == "off":
        return RestoredPhoto(linear, None, None)
    from refocus_cli.restore.pipeline import restore_all_in_focus

    result = restore_all_in_focus(
        linear, disparity, photo_defocus=photo_defocus, mode="always" if mode == "on" else "auto"
    )
    fitted = result.photo_defocus
    residual = None  # not restored: the fit is not trusted to say how much blur is there, the full CoC is added
    if result.restored:
        residual = result.residual_radius_px
        residual = torch.zeros_like(disparity) if residual is None else residual
    photo_blur_px = float(fitted.radius_px(disparity).max())
    record: dict[str, Any] = {
        "mode": mode,
        "restored": result.restored,
        "photo_blur_k_px": round(fitted.k0_px, 3),
        "photo_focus_disparity": round(fitted.focus_disparity, 4),
        "photo_max_blur_px": round(photo_blur_px, 2),
    }
    record["fit_reliable"] = fitted.reliable
    if not result.restored:
        record["why_not"] = why_not_restored(fitted, disparity)
    return RestoredPhoto(result.all_in_focus, residual, record, fitted)


def why_not_restored(fitted: PhotoDefocus, disparity: torch.Tensor) -> str:
    """Why restore auto left a photo as it was, in words for --json."""
    if not fitted.reliable:
        return "the photo's own blur could not be measured reliably"
    if float(fitted.radius_px(disparity).max()) < RESTORE_MIN_BLUR_PX:
        return "the photo has no blur to undo"
    return "too little of the photo is blurred to be worth undoing"


def added_coc_px(coc: torch.Tensor, residual_radius_px: torch.Tensor | None) -> torch.Tensor:
    """The CoC the render must add to a picture that already holds `residual_radius_px` of blur: the wanted
    radius reduced in quadrature (blurs add by their variance), its sign kept; where the wanted blur is less
    than the one already there, nothing is added.

    Args:
        coc: [N,1,H,W] wanted signed CoC radius, pixels.
        residual_radius_px: [N,1,H,W] blur radius already in the picture, pixels (None: none).

    >>> import torch
    >>> added_coc_px(torch.tensor([[[[-5.0, 5.0, 2.0]]]]), torch.tensor([[[[3.0, 0.0, 3.0]]]])).tolist()
    [[[[-4.0, 5.0, 0.0]]]]
    """
    if residual_radius_px is None:
        return coc
    added = (coc.square() - residual_radius_px.square()).clamp_min(0.0).sqrt()
    return torch.where(coc < 0, -added, added)


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

    return render_layered(image.to(device), coc.to(device), aperture, settings_for_quality(quality, aperture)).cpu()
