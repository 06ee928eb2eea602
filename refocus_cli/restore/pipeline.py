"""Restore as one call: fit the photo's own blur, decide whether there is anything to undo, deconvolve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from refocus_cli.errors import SettingsError
from refocus_cli.restore.deconvolve import DeconvolveSettings, deconvolve_layers
from refocus_cli.restore.fit import BLURRED_RADIUS_PX, MIN_BLURRED_SHARE, PhotoDefocus, fit_photo_defocus
from refocus_cli.restore.photo_blur import fit_photo_blur

BlurSource = Literal["auto", "spectral", "edges"]
RestoreMode = Literal["auto", "always"]

MIN_EVIDENCE = 1.0
"""Least total weight behind a fit for `auto` to act on it (about one measured patch)."""


@dataclass(frozen=True)
class RestoreResult:
    """What restore made of a photo.

    Attributes:
        all_in_focus: [N,3,H,W] linear light >= 0; the input itself (same tensor) when nothing was done.
        photo_defocus: the photo's blur that was fitted (or given).
        restored: whether any deconvolution was done.
        residual_radius_px: [N,1,H,W] blur radius (px) still present in `all_in_focus` at each pixel: 0 where
            fully deconvolved, the photo's own radius where the photo was kept, in between where blended (a
            renderer need only add the missing blur, in quadrature); None when not known (the layered
            conjugate-gradient deconvolution does not say; `restore.hqs_layers` does).
    """

    all_in_focus: torch.Tensor
    photo_defocus: PhotoDefocus
    restored: bool
    residual_radius_px: torch.Tensor | None = None


def _check_inputs(linear: torch.Tensor, disparity: torch.Tensor) -> None:
    if linear.ndim != 4 or linear.shape[1] != 3:
        raise SettingsError(f"restore needs an image of shape [N,3,H,W], got {tuple(linear.shape)}")
    if disparity.ndim != 4 or disparity.shape[1] != 1 or disparity.shape[-2:] != linear.shape[-2:]:
        raise SettingsError(
            f"restore needs a disparity map [N,1,H,W] the size of the image {tuple(linear.shape[-2:])}, "
            f"got {tuple(disparity.shape)}"
        )


def estimate_photo_defocus(
    linear: torch.Tensor, disparity: torch.Tensor, *, source: BlurSource = "auto"
) -> PhotoDefocus:
    """Fit the photo's own blur ``|r| = K0 |d - d0|`` from the photo and its depth.

    Args:
        linear: [1,3,H,W] photo, linear light.
        disparity: [1,1,H,W] in [0, 1].
        source: "spectral" (and "auto") scores every blur radius per depth bin from the spectra of flat
            patches and fits (K0, d0) to all the scores jointly, reliable only where a ring-free fit from
            band energies against a reblurred reference agrees (`restore.photo_blur`); "edges"
            fits the per-pixel edge-blur estimator of `refocus_cli.depth.defocus` (kept for comparison).

    Returns:
        The fitted PhotoDefocus, with `reliable` and `blurred_share` saying how well the photo backs it.
    """
    _check_inputs(linear, disparity)
    if source == "edges":
        from refocus_cli.depth.defocus import estimate_edge_blur

        edges = estimate_edge_blur(linear[:1])  # [1,1,H,W] radius and confidence
        return fit_photo_defocus(disparity[:1], edges.radius_px, edges.confidence)
    return fit_photo_blur(linear[:1], disparity[:1])


def needs_restore(
    photo_defocus: PhotoDefocus,
    disparity: torch.Tensor,
    *,
    sharp_radius_px: float = BLURRED_RADIUS_PX,
    min_evidence: float = MIN_EVIDENCE,
    min_share: float = MIN_BLURRED_SHARE,
) -> bool:
    """Whether the photo has blur worth undoing: at least `min_share` of its pixels are blurred by
    `sharp_radius_px` or more under the fit, the fit rests on `min_evidence` of weight, and, for a fitted
    blur, the photo's own measurements confirm it (`PhotoDefocus.reliable`; a given blur is trusted).

    >>> needs_restore(PhotoDefocus.known(10.0, 0.5), torch.tensor([[[[0.5, 0.52]]]]))
    False
    >>> needs_restore(PhotoDefocus.known(10.0, 0.5), torch.tensor([[[[0.5, 0.9]]]]))
    True
    """
    if photo_defocus.evidence < min_evidence or not photo_defocus.reliable:
        return False
    blurred = photo_defocus.radius_px(disparity) >= sharp_radius_px
    return float(blurred.float().mean()) >= min_share


def restore_all_in_focus(
    linear: torch.Tensor,
    disparity: torch.Tensor,
    *,
    photo_defocus: PhotoDefocus | None = None,
    mode: RestoreMode = "auto",
    source: BlurSource = "auto",
    settings: DeconvolveSettings | None = None,
) -> RestoreResult:
    """All-in-focus estimate of a photo with defocus blur, from its depth.

    Steps: (1) fit the photo's blur K0, d0 unless given; (2) under "auto", return the photo untouched when
    `needs_restore` says it is sharp everywhere or the evidence is too thin; (3) deconvolve every depth layer
    by the disc of its radius and blend.

    Args:
        linear: [1,3,H,W] photo, linear light >= 0.
        disparity: [1,1,H,W] disparity in [0, 1] (known or estimated).
        photo_defocus: the photo's blur when known; fitted from the photo otherwise.
        mode: "auto" skips sharp photos; "always" deconvolves whatever the fit says.
        source: where blur observations come from when fitting (see `estimate_photo_defocus`).
        settings: deconvolution knobs.

    Returns:
        RestoreResult; its image is linear light >= 0, [1,3,H,W].

    >>> result = restore_all_in_focus(torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32))
    >>> result.restored
    False
    """
    _check_inputs(linear, disparity)
    if mode not in ("auto", "always"):
        raise SettingsError(f"restore mode must be auto or always, got {mode!r}")
    fitted = photo_defocus or estimate_photo_defocus(linear, disparity, source=source)  # 1. K0, d0
    settings = settings or DeconvolveSettings()
    photo_radius = fitted.radius_px(disparity)  # [1,1,H,W] the photo's own blur, px
    if mode == "auto" and not needs_restore(fitted, disparity, sharp_radius_px=settings.sharp_radius_px):
        return RestoreResult(linear, fitted, False, photo_radius)  # 2. sharp everywhere, or too little evidence
    restored = deconvolve_layers(linear, disparity, fitted.k0_px, fitted.focus_disparity, settings)  # 3. [1,3,H,W]
    return RestoreResult(restored, fitted, restored is not linear)
