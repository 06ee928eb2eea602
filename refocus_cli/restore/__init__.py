"""Restore: the all-in-focus estimate of a photo that already has defocus blur, from its depth.

fit the photo's own blur (K0, d0)  ->  deconvolve each depth layer by its disc  ->  blend the layers

`deconvolve_layers_hqs` is the faster alternative under trial (half-quadratic splitting, hyper-Laplacian prior,
occlusion-aware trust, the blur left per pixel).
"""

from refocus_cli.restore.bands import BandCosts, measure_band_costs
from refocus_cli.restore.deconvolve import DeconvolveSettings, deconvolve_layers, masked_deconvolve, wiener_deconvolve
from refocus_cli.restore.exif_check import exif_blur_note, lens_photo_defocus
from refocus_cli.restore.fit import PhotoDefocus, fit_blur_costs, fit_blur_scores, fit_photo_defocus
from refocus_cli.restore.hqs import SplittingSettings, hqs_deconvolve
from refocus_cli.restore.hqs_layers import HqsLayerSettings, LayeredDeconvolution, deconvolve_layers_hqs
from refocus_cli.restore.measure import LayerBlur, measure_layer_blur
from refocus_cli.restore.photo_blur import fit_photo_blur
from refocus_cli.restore.pipeline import RestoreResult, estimate_photo_defocus, needs_restore, restore_all_in_focus

__all__ = [
    "BandCosts",
    "DeconvolveSettings",
    "HqsLayerSettings",
    "LayerBlur",
    "LayeredDeconvolution",
    "PhotoDefocus",
    "RestoreResult",
    "SplittingSettings",
    "deconvolve_layers",
    "deconvolve_layers_hqs",
    "estimate_photo_defocus",
    "exif_blur_note",
    "fit_blur_costs",
    "fit_blur_scores",
    "fit_photo_blur",
    "fit_photo_defocus",
    "hqs_deconvolve",
    "lens_photo_defocus",
    "masked_deconvolve",
    "measure_band_costs",
    "measure_layer_blur",
    "needs_restore",
    "restore_all_in_focus",
    "wiener_deconvolve",
]
