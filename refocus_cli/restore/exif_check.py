"""Check a fitted photo blur against the lens its EXIF records, where the depth is metric.

Thin lens: the CoC radius is ``k |1/z - 1/S|`` px, k from the camera (`CameraSettings.blur_k_per_inverse_m`).
The disparity map is an affine function of inverse depth, ``1/z = a d + b`` (fitted by least squares over the
pixels), so the camera implies ``K0 = k |a|`` px per unit disparity and ``d0 = (1/S - b) / a``.  With relative
depth only there is nothing to compare, and no note.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from refocus_cli.errors import SettingsError
from refocus_cli.lens import camera_from_exif
from refocus_cli.restore.fit import PhotoDefocus

AGREEMENT = 0.25
"""The fit agrees with the lens when K0 is within 25 % of the lens's and d0 within 0.05 of its."""


def lens_photo_defocus(
    camera_tags: Mapping[str, float], disparity: torch.Tensor, depth_m: torch.Tensor, image_width_px: int
) -> PhotoDefocus | None:
    """The photo blur the EXIF lens implies, in the disparity map's terms; None without f-number, focal length
    and focus distance, or when disparity does not follow inverse depth.

    Args:
        camera_tags: EXIF numbers by standard name (FNumber, FocalLength, FocalLengthIn35mmFilm, SubjectDistance).
        disparity: [1,1,H,W] in [0, 1].
        depth_m: [1,1,H,W] metric depth, metres (> 0).
        image_width_px: width of the photo the blur is in.
    """
    try:
        camera = camera_from_exif(camera_tags).complete()
    except SettingsError:
        return None
    d = disparity.detach().flatten().double()
    inverse = 1.0 / depth_m.detach().flatten().double().clamp_min(1e-6)
    design = torch.stack((d, torch.ones_like(d)), dim=-1)
    slope, offset = torch.linalg.lstsq(design, inverse[:, None]).solution.flatten().tolist()
    if abs(slope) < 1e-9:
        return None
    k0 = camera.blur_k_per_inverse_m(image_width_px) * abs(slope)
    return PhotoDefocus.known(k0, (1.0 / camera.focus_distance_m - offset) / slope)


def exif_blur_note(
    fitted: PhotoDefocus,
    camera_tags: Mapping[str, float],
    disparity: torch.Tensor,
    depth_m: torch.Tensor | None,
    image_width_px: int,
) -> str | None:
    """One line comparing the fitted blur with the EXIF lens's, or None (relative depth, or no full lens in EXIF).

    >>> tags = {"FNumber": 2.0, "FocalLength": 50.0, "SubjectDistance": 2.0}
    >>> depth = torch.tensor([[[[1.0, 2.0, 4.0]]]])
    >>> disparity = (1 / depth - 0.25) / 0.75
    >>> note = exif_blur_note(PhotoDefocus.known(13.0, 0.33), tags, disparity, depth, 1000)
    >>> note.endswith("13.4 px at d0 0.33: agrees")
    True
    """
    if depth_m is None:
        return None
    lens = lens_photo_defocus(camera_tags, disparity, depth_m, image_width_px)
    if lens is None:
        return None
    tags = camera_tags
    agrees = (
        abs(fitted.k0_px - lens.k0_px) <= AGREEMENT * max(lens.k0_px, 1e-9)
        and abs(fitted.focus_disparity - lens.focus_disparity) <= 0.05
    )
    return (
        f"restore: photo blur fitted K0 {fitted.k0_px:.1f} px at d0 {fitted.focus_disparity:.2f}; the EXIF lens "
        f"(f/{tags['FNumber']:g} {tags['FocalLength']:g} mm at {tags['SubjectDistance']:g} m) implies K0 "
        f"{lens.k0_px:.1f} px at d0 {lens.focus_disparity:.2f}: {'agrees' if agrees else 'disagrees'}"
    )
