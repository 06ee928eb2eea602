"""Aligning the frames of a captured focal stack: an affine map per frame onto a reference frame.

Frames of a focal stack differ in magnification (focus breathing) and may shift a little. Each frame is
matched to its neighbour nearer the reference (the middle frame) with OpenCV's ECC (enhanced correlation
coefficient, Evangelidis & Psarakis 2008), which is invariant to contrast and brightness changes, so the
different focus of neighbours hurts little; the neighbour maps are chained. Matching runs coarse to fine on
copies at most `WORK_SIDE_PX` on the long side, on Gaussian-smoothed grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

WORK_SIDE_PX = 1024
COARSE_SIDE_PX = 256
ECC_ITERATIONS, ECC_EPSILON = 100, 1e-6
MAX_DISTORTION = 0.005
"""Largest shear or anisotropy an accepted affine map may have (lenses breathe uniformly)."""
MAX_SCALE_CHANGE = 0.1
INTERPOLATION = 4  # cv2.INTER_LANCZOS4: fine texture survives the resampling
KERNEL_REACH_PX = 4
"""How far Lanczos-4 reads beyond a sample point."""


@dataclass(frozen=True)
class Alignment:
    """Per frame, a 3x3 affine matrix from reference pixel coordinates to that frame's pixel coordinates,
    and how it was found ("reference", "affine", "translation" or "none" when matching failed)."""

    to_frame: list[np.ndarray]
    methods: list[str]

    @property
    def scales(self) -> list[float]:
        """Each frame's magnification relative to the reference: the square root of the map's determinant (a
        frame twice as magnified shows the reference's point q at twice its distance from the centre)."""
        return [float(np.sqrt(abs(np.linalg.det(m[:2, :2])))) for m in self.to_frame]


def grey_for_matching(linear: torch.Tensor, side_px: int) -> np.ndarray:
    """[1,3,H,W] linear -> [h,w] float32 sRGB-like grey (gamma 1/2.2), area-resized to at most `side_px`."""
    import cv2

    grey: np.ndarray = (linear[0].mean(dim=0).clamp(0, 1) ** (1 / 2.2)).cpu().numpy().astype(np.float32)
    h, w = grey.shape
    scale = min(1.0, side_px / max(h, w))
    if scale < 1:
        grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return grey


def _scaled(matrix: np.ndarray, factor: float) -> np.ndarray:
    """The same 3x3 map of pixel coordinates for images `factor` times the size (pixel centres at integers:
    x' = factor * (x + 0.5) - 0.5)."""
    offset = (factor - 1) / 2
    s = np.array([[factor, 0.0, offset], [0.0, factor, offset], [0.0, 0.0, 1.0]])
    return s @ matrix @ np.linalg.inv(s)


def match_pair(
    moving: np.ndarray, fixed: np.ndarray, full_size_hw: tuple[int, int], mask: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    """The 3x3 affine map from `fixed` pixel coordinates to `moving` ones, in full-size pixels.

    ECC on a copy at most COARSE_SIDE_PX first, refined at the given size; affine, else translation only,
    else the identity ("none").

    Args:
        moving, fixed: [h,w] float32 greys of the same size (at most WORK_SIDE_PX).
        full_size_hw: the frames' full size, to express the map in full-size pixels.
        mask: [h,w] uint8, nonzero where `fixed` may be compared (None: everywhere).
    """
    import cv2

    h, w = fixed.shape
    mask = np.ones_like(fixed, np.uint8) if mask is None else mask
    coarse = min(1.0, COARSE_SIDE_PX / max(h, w))
    size = (max(16, round(w * coarse)), max(16, round(h * coarse)))
    fixed_small = cv2.resize(fixed, size, interpolation=cv2.INTER_AREA)
    moving_small = cv2.resize(moving, size, interpolation=cv2.INTER_AREA)
    mask_small = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON)

    def ecc(motion: int, start: np.ndarray) -> np.ndarray | None:
        """ECC coarse then fine from `start` (2x3, coarse pixels); None when it does not converge."""
        try:
            _, warp = cv2.findTransformECC(fixed_small, moving_small, start, motion, criteria, mask_small, 5)
            warp = _scaled(np.vstack([warp, [0, 0, 1]]), w / size[0])[:2].astype(np.float32)
            _, warp = cv2.findTransformECC(fixed, moving, warp, motion, criteria, mask, 5)
        except cv2.error:
            return None
        return np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]])

    shift = ecc(cv2.MOTION_TRANSLATION, np.eye(2, 3, dtype=np.float32))
    start = np.eye(2, 3, dtype=np.float32) if shift is None else _scaled(shift, size[0] / w)[:2].astype(np.float32)
    affine = ecc(cv2.MOTION_AFFINE, start)
    if affine is not None and plausible(affine):
        return _scaled(affine, full_size_hw[1] / w), "affine"
    if shift is not None:
        return _scaled(shift, full_size_hw[1] / w), "translation"
    return np.eye(3), "none"


def plausible(matrix: np.ndarray) -> bool:
    """An affine map a focal stack can have: near a similarity (shear and anisotropy under MAX_DISTORTION)
    with a magnification change under MAX_SCALE_CHANGE. Anything else is ECC locking onto defocus.

    >>> plausible(np.array([[1.004, 0.0, 2.0], [0.0, 1.004, -1.0], [0, 0, 1]]))
    True
    >>> plausible(np.array([[0.97, 0.02, 0.9], [0.015, 1.003, -2.0], [0, 0, 1]]))
    False
    """
    a, b, c, d = matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]
    anisotropy = abs(a - d) / 2
    shear = abs(b + c) / 2  # a rotation has b = -c
    scale = float(np.sqrt(abs(a * d - b * c)))
    return bool(anisotropy < MAX_DISTORTION and shear < MAX_DISTORTION and abs(scale - 1) < MAX_SCALE_CHANGE)


def align_stack(greys: list[np.ndarray], full_size_hw: tuple[int, int]) -> Alignment:
    """Chain neighbour matches to the middle frame: frame i is matched to frame i +- 1, nearer the middle.

    Args:
        greys: the frames' matching greys (`grey_for_matching`), all the same size, in focus order.
        full_size_hw: the frames' full size.
    """
    count = len(greys)
    reference = count // 2
    to_frame: list[np.ndarray | None] = [None] * count
    methods = [""] * count
    to_frame[reference], methods[reference] = np.eye(3), "reference"
    for i in [*range(reference - 1, -1, -1), *range(reference + 1, count)]:
        neighbour = i + 1 if i < reference else i - 1
        pair, methods[i] = match_pair(greys[i], greys[neighbour], full_size_hw)
        to_frame[i] = pair @ to_frame[neighbour]  # reference -> neighbour -> frame i
    return Alignment([m for m in to_frame if m is not None], methods)


def warp_to_reference(linear: torch.Tensor, to_frame: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample frame [1,3,H,W] onto the reference grid; returns it and [1,1,H,W] coverage (1 inside the frame).

    Bilinear; outside the frame the edge is extended and coverage falls to 0.
    """
    import cv2

    h, w = linear.shape[-2:]
    if np.allclose(to_frame, np.eye(3)):
        return linear, torch.ones(1, 1, h, w)
    image = linear[0].permute(1, 2, 0).contiguous().cpu().numpy()
    flags = INTERPOLATION | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(image, to_frame[:2], (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return torch.from_numpy(warped).permute(2, 0, 1).unsqueeze(0).to(linear.dtype), coverage(to_frame, (h, w))


def coverage(to_frame: np.ndarray, size_hw: tuple[int, int]) -> torch.Tensor:
    """[1,1,H,W]: 1 where the map reads the frame at least the interpolation kernel's reach inside its edges
    (so no replicated edge pixel enters), else 0.

    >>> coverage(np.eye(3), (12, 10))[0, 0, 6].tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    h, w = size_hw
    xs = torch.arange(w, dtype=torch.float32).view(1, w)
    ys = torch.arange(h, dtype=torch.float32).view(h, 1)
    (a, b, c), (d, e, f) = to_frame[0].tolist(), to_frame[1].tolist()
    source_x, source_y = a * xs + b * ys + c, d * xs + e * ys + f
    reach = KERNEL_REACH_PX
    inside = (source_x >= reach) & (source_x <= w - 1 - reach) & (source_y >= reach) & (source_y <= h - 1 - reach)
    return inside.float()[None, None]
