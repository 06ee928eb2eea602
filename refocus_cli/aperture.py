"""Aperture shapes and the blur kernels they make: disc, n-blade polygon (rotated, anamorphic), custom image.

One shape description serves both renderers: the fast renderer asks for a kernel of a given radius
(`aperture_kernel`), the exact reference renderer for points spread over the aperture (`sample_aperture`).
Coordinates on the unit aperture run over [-1, 1]; a radius of r pixels maps the unit aperture to r pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from refocus_cli.errors import InputError, SettingsError

ApertureKind = Literal["disc", "polygon", "custom"]
MAX_KERNEL_SIDE_PX = 1024
"""Largest custom aperture image, per side: it is resampled for every kernel, and a lens opening needs no more."""
MAX_BLADES = 32
"""Most blades an iris may have: each costs a pass over every kernel, and at 32 a polygon is within a pixel of
a disc even at the largest blur radius (256 px)."""


@dataclass(frozen=True)
class ApertureShape:
    """The shape of the lens opening.

    Attributes:
        kind: "disc", "polygon" (an iris of `blades` straight blades) or "custom" (the `custom` image).
        blades: number of blades for "polygon" (3 to MAX_BLADES).
        rotation_deg: rotation of the polygon or custom image, degrees counter-clockwise.
        aspect: width / height of the opening; < 1 gives the tall ovals of anamorphic lenses.
        custom: [h, w] non-negative weights, the opening as an image (bright = open), for "custom".
    """

    kind: ApertureKind = "disc"
    blades: int = 6
    rotation_deg: float = 0.0
    aspect: float = 1.0
    custom: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("disc", "polygon", "custom"):
            raise SettingsError(f"--aperture must be disc, polygon or an image file, got {self.kind!r}")
        if self.kind == "polygon" and self.blades < 3:
            raise SettingsError(f"--blades must be 3 or more, got {self.blades}")
        if self.kind == "polygon" and self.blades > MAX_BLADES:
            raise SettingsError(f"--blades must be between 3 and {MAX_BLADES}, got {self.blades}")
        if not math.isfinite(self.rotation_deg):
            raise SettingsError(f"--rotation must be any finite number, got {self.rotation_deg}")
        if not (0.1 <= self.aspect <= 10.0):
            raise SettingsError(f"--aspect must be between 0.1 and 10, got {self.aspect}")
        if self.kind == "custom":
            problem = custom_kernel_problem(self.custom)
            if problem is not None:
                raise SettingsError(f"a custom aperture {problem}")


def custom_kernel_problem(kernel: torch.Tensor | None) -> str | None:
    """Why `kernel` cannot be a custom aperture ("needs ...", "image is ..."), or None when it can.

    >>> custom_kernel_problem(torch.zeros(3, 3))
    'image is all black: no light passes the opening'
    """
    if kernel is None or kernel.ndim != 2 or kernel.numel() == 0:
        return "needs a 2-D kernel image"
    h, w = kernel.shape
    if max(h, w) > MAX_KERNEL_SIDE_PX:
        return f"image is {w}x{h} pixels, over the limit of {MAX_KERNEL_SIDE_PX}x{MAX_KERNEL_SIDE_PX}"
    if not bool(torch.isfinite(kernel).all()):
        return "image has NaN or infinite values"
    if float(kernel.min()) < 0:
        return "image has negative values"
    if float(kernel.sum()) <= 0:
        return "image is all black: no light passes the opening"
    return None


def kernel_from_file(path: Path) -> torch.Tensor:
    """A custom aperture image file as [h, w] weights: its linear light, channels averaged (bright = open).

    The size is checked from the file's header before it is decoded.

    Raises:
        InputError: naming the file: unreadable or not an image (as `read_image`), larger than
            MAX_KERNEL_SIDE_PX on a side, all black.
    """
    from refocus_cli.io.images import read_image

    path = Path(path)
    limit = MAX_KERNEL_SIDE_PX * MAX_KERNEL_SIDE_PX
    kernel = read_image(path, max_pixels=limit).linear[0].mean(dim=0)  # no decode over `limit` pixels
    problem = custom_kernel_problem(kernel)
    if problem is not None:
        raise InputError(path, f"aperture {problem}")
    return kernel


def _unit_axes(u: torch.Tensor, v: torch.Tensor, shape: ApertureShape) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo anamorphic squeeze and rotation: coordinates in the shape's own frame."""
    theta = math.radians(shape.rotation_deg)
    # Anamorphic: the opening is `aspect` times as wide as tall, within the unit square.
    sx, sy = (1.0, 1.0 / shape.aspect) if shape.aspect >= 1.0 else (shape.aspect, 1.0)
    x, y = u / sx, v / sy
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    return cos_t * x + sin_t * y, -sin_t * x + cos_t * y


def aperture_weight(u: torch.Tensor, v: torch.Tensor, shape: ApertureShape) -> torch.Tensor:
    """Transmission of the opening at unit-aperture coordinates (u right, v down), in [0, 1].

    Args:
        u, v: same shape, coordinates in [-1, 1].

    Returns:
        Tensor of that shape: 1 inside, 0 outside (custom: the image's normalised brightness).
    """
    x, y = _unit_axes(u, v, shape)
    if shape.kind == "disc":
        return (x * x + y * y <= 1.0).to(u.dtype)
    if shape.kind == "polygon":
        # Regular polygon with circumradius 1: inside when the projection on every edge normal is below
        # the apothem cos(pi/n).  The first vertex points up.
        n = shape.blades
        apothem = math.cos(math.pi / n)
        inside = torch.ones_like(x, dtype=torch.bool)
        for k in range(n):
            angle = -math.pi / 2 + math.pi / n + 2 * math.pi * k / n
            inside &= x * math.cos(angle) + y * math.sin(angle) <= apothem
        return inside.to(u.dtype)
    assert shape.custom is not None
    image = shape.custom.to(dtype=u.dtype, device=u.device)
    image = image / image.max()
    grid = torch.stack((x, y), dim=-1).reshape(1, -1, 1, 2)
    sampled = torch.nn.functional.grid_sample(
        image[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return sampled.reshape(u.shape)


def kernel_radius_px(coc_radius_px: float) -> int:
    """Half-size in pixels of the kernel grid for a CoC radius (the bilinear footprint reaches r + 1)."""
    return math.ceil(abs(coc_radius_px) - 1e-9)


def _tent_matrix(centres: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """[len(centres), len(positions)] bilinear weights of each position on each pixel centre."""
    return (1.0 - (centres[:, None] - positions[None, :]).abs()).clamp_min(0.0)


def aperture_kernel(
    coc_radius_px: float,
    shape: ApertureShape | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The blur kernel of a point at this CoC radius: the aperture scaled to the radius, on the pixel grid.

    The opening is sampled densely (8 points per pixel and axis) and each sample spreads bilinearly onto
    the pixels around it, which is exactly what averaging bilinearly shifted views over the aperture does
    (the reference renderer).  So the kernel changes continuously with the radius, down to the identity at 0.
    A negative radius (behind focus) turns the shape by 180°.

    Args:
        coc_radius_px: signed CoC radius in pixels.
        shape: the opening; a disc when None.

    Returns:
        [2R+1, 2R+1] weights summing to 1, R = kernel_radius_px(r).

    >>> aperture_kernel(3.0).shape
    torch.Size([7, 7])
    >>> aperture_kernel(0.0).tolist()
    [[1.0]]
    """
    shape = shape or ApertureShape()
    radius = abs(coc_radius_px)
    half = kernel_radius_px(radius)
    if half == 0:
        return torch.ones(1, 1, device=device, dtype=dtype)
    samples = max(8, 2 * math.ceil(8 * radius))
    unit = (torch.arange(samples, device=device, dtype=torch.float64) + 0.5) / samples * 2 - 1  # [-1, 1]
    v, u = torch.meshgrid(unit, unit, indexing="ij")
    sign = 1.0 if coc_radius_px > 0 else -1.0
    weights = aperture_weight(u * sign, v * sign, shape)  # [S, S] over the opening
    if float(weights.sum()) <= 0:  # a tiny custom opening that no sample hit: a point
        weights = torch.zeros_like(weights)
        weights[samples // 2, samples // 2] = 1.0
    centres = torch.arange(-half, half + 1, device=device, dtype=torch.float64)
    spread = _tent_matrix(centres, unit * radius)  # [2R+1, S]
    kernel = spread @ weights @ spread.T
    return (kernel / kernel.sum()).to(dtype)


def sample_aperture(
    count: int, shape: ApertureShape | None = None, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points spread over the opening for averaging pinhole views (stratified, jittered).

    Args:
        count: points wanted (about; the grid is square).
        shape: the opening; a disc when None.
        generator: seeds the jitter.

    Returns:
        (points [P, 2] as (u, v) in [-1, 1], weights [P] summing to 1).
    """
    shape = shape or ApertureShape()
    side = max(2, math.ceil(math.sqrt(count * 4 / math.pi)))
    jitter = torch.rand(side, side, 2, generator=generator, dtype=torch.float64)
    grid = torch.arange(side, dtype=torch.float64)
    v, u = torch.meshgrid(grid, grid, indexing="ij")
    u = (u + jitter[..., 0]) / side * 2 - 1
    v = (v + jitter[..., 1]) / side * 2 - 1
    weights = aperture_weight(u, v, shape).reshape(-1)
    keep = weights > 0
    points = torch.stack((u.reshape(-1), v.reshape(-1)), dim=-1)[keep]
    weights = weights[keep]
    return points.float(), (weights / weights.sum()).float()
