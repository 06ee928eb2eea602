"""The generated scene's geometry: metric depth from the depth model, the focus distance, and the lens render.

A depth model that knows metres (a metric Depth Anything) is used as it is. One that gives relative depth gives
disparity known up to scale and shift, so the scene is placed between a near and a far distance (defaults: 1 m
to 100 m): inverse depth is affine in disparity, 1/z = d / near + (1 - d) / far, with d = 1 the nearest pixel.

The lens is the thin lens of `refocus_cli.lens`; CoC radii under half a pixel are rendered sharp (the blur disc
lies inside one pixel: that is the depth of field's own definition), ramping to the true radius at one pixel,
so a scene rendered at two apertures is the same image wherever both leave it in focus.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from refocus_cli.aperture import ApertureShape
from refocus_cli.errors import SettingsError
from refocus_cli.highlights import HighlightSettings, boost_highlights
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.lens import CameraSettings, physical_signed_coc_px
from refocus_cli.render.layered import render_layered
from refocus_cli.render.planes import settings_for_quality

SHARP_BELOW_PX = 0.5
"""CoC radius under which a pixel is rendered in focus."""


@dataclass(frozen=True)
class SceneRange:
    """Where a relative depth map's nearest and farthest pixels are put, metres."""

    near_m: float = 1.0
    far_m: float = 100.0

    def __post_init__(self) -> None:
        if not 0 < self.near_m < self.far_m:
            raise SettingsError(f"--near and --far must satisfy 0 < near < far, got {self.near_m:g} and {self.far_m:g}")


def metric_depth(depth: DepthMap, scene: SceneRange) -> tuple[torch.Tensor, str]:
    """[1,1,H,W] metres, and where they came from ("model" or "scene range").

    >>> d = DepthMap(disparity=torch.tensor([[[[0.0, 1.0]]]]), metric_depth_m=None, source="model:x")
    >>> metric_depth(d, SceneRange(2.0, 50.0))[0].flatten().tolist()
    [50.0, 2.0]
    """
    if depth.metric_depth_m is not None:
        return depth.metric_depth_m, "model"
    d = depth.disparity.clamp(0.0, 1.0)
    inverse = d / scene.near_m + (1.0 - d) / scene.far_m
    return 1.0 / inverse, "scene range"


def lens_coc_px(depth_m: torch.Tensor, camera: CameraSettings, width_px: int) -> torch.Tensor:
    """[1,1,H,W] signed CoC radius in pixels with the sub-pixel rule: 0 below `SHARP_BELOW_PX`, the thin lens'
    radius from one pixel up, a linear ramp of the factor between.

    >>> lens_coc_px(torch.full((1, 1, 1, 1), 1.0), CameraSettings(2.8, 50.0, 36.0, 1.0), 512).item()
    0.0
    """
    coc = physical_signed_coc_px(depth_m, camera, width_px)
    factor = ((coc.abs() - SHARP_BELOW_PX) / SHARP_BELOW_PX).clamp(0.0, 1.0)
    return coc * factor


def render_lens(
    all_in_focus: torch.Tensor,
    coc_px: torch.Tensor,
    aperture: ApertureShape,
    highlights: HighlightSettings,
    quality: str,
    device: torch.device,
) -> torch.Tensor:
    """[1,3,H,W] linear: the all-in-focus image [1,3,H,W] blurred by the physics engine for a CoC map."""
    image = boost_highlights(all_in_focus, coc_px, highlights)
    with torch.no_grad():
        out = render_layered(image.to(device), coc_px.to(device), aperture, settings_for_quality(quality, aperture))
    return out.cpu()
