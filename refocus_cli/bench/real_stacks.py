"""Captured focal stacks for the real-photo benchmark: finding them, fusing them at a working size, the blur
scale K fitted once per stack, and the regions a refocus is scored in.

Conventions (the README's "Real photos" section states them too):
- A stack is a folder holding at least `MIN_FRAMES` images whose names end in a number (pcb_001.jpg,
  frame_00.jpg; expected.jpg is not a frame), in natural name order, which is focus order.
- Frames are area-resized so their long side is the working size, then aligned, exposure-balanced and fused by
  the steps of `fuse_stack` (the code `refocus stack --fuse` runs); every comparison is made on these aligned
  frames, cropped to the rectangle every frame covers plus `BORDER_MARGIN_PX`.
- Frame k's focus disparity is where the depth from focus puts the pixels frame k shows sharpest: with the
  depth map's convention (frame 0 = 1, the last = 0, linear in the frame index) d_k = 1 - k / (count - 1).
- K (CoC radius in working-size pixels per unit disparity) is fitted once per stack: the fused all-in-focus
  image is rendered by the physics engine at the focus of the end frame farthest in disparity from the median
  depth (the most blurred end, so the strongest constraint), for K stepping up from 1 px by factors of 2^(1/2)
  until the PSNR (sRGB) against that real frame has fallen twice in a row (128 px at most), then by 2^(1/8)
  around the best; on copies at most `fit_side_px` long. The K of the highest PSNR is kept.
- Regions of a pair (photo i, target j): the fusion's focus measure of each frame, smoothed by a Gaussian of
  `REGION_SIGMA` of the long side; pixels are textured where the larger of the two measures reaches
  `TEXTURE_FRACTION` of its 99th percentile; sharpen = textured where the target's measure is at least
  `MARGIN` times the photo's (the target is clearly sharper), blur-add = textured where the photo's is at least
  `MARGIN` times the target's.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
"""`../shared/data` beside the repository's root."""
MIN_FRAMES = 3
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
BORDER_MARGIN_PX = 4
REGION_SIGMA = 0.004
TEXTURE_FRACTION = 0.05
MARGIN = 4.0
COARSE_K_PX = tuple(2 ** (i / 2) for i in range(15))  # 1 .. 128
FINE_STEPS = (-3, -2, -1, 1, 2, 3)  # powers of 2^(1/8) around the coarse best


@dataclass(frozen=True)
class StackFiles:
    """A stack's name (its folder's) and frame paths in focus order."""

    name: str
    paths: tuple[Path, ...]


def stack_frames(folder: Path) -> tuple[Path, ...]:
    """The frames of a stack folder: images whose names end in a number, in natural name order."""
    from refocus_cli.io.sequences import natural_key

    frames = [
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in FRAME_SUFFIXES and path.stem[-1:].isdigit()
    ]
    return tuple(sorted(frames, key=lambda path: natural_key(path.name)))


def find_stacks(data_dir: Path) -> list[StackFiles]:
    """The stacks under `data_dir`: itself when it is a stack, else each subfolder that is one, by name; [] when
    the folder is absent.

    >>> find_stacks(Path("/nonexistent"))
    []
    """
    if not data_dir.is_dir():
        return []
    own = stack_frames(data_dir)
    if len(own) >= MIN_FRAMES:
        return [StackFiles(data_dir.name, own)]
    found = [StackFiles(sub.name, stack_frames(sub)) for sub in sorted(data_dir.iterdir()) if sub.is_dir()]
    return [stack for stack in found if len(stack.paths) >= MIN_FRAMES]


def resize_long_side(image: torch.Tensor, side_px: int) -> torch.Tensor:
    """[N,C,H,W] area-resized (antialiased bilinear) so its long side is `side_px`; never enlarged."""
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    scale = side_px / max(h, w)
    if scale >= 1:
        return image
    return F.interpolate(image, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True)


def frame_focus_disparities(count: int) -> list[float]:
    """d_k = 1 - k / (count - 1): the depth from focus's value where frame k is the sharpest.

    >>> frame_focus_disparities(5)
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    return [1.0 - k / (count - 1) for k in range(count)]


def covered_border(coverages: list[torch.Tensor]) -> int:
    """The least border b (pixels) such that every frame covers all of [b:H-b, b:W-b] (coverage [1,1,H,W])."""
    import torch

    covered = torch.stack([c[0, 0] > 0.999 for c in coverages]).all(dim=0)  # [H,W]
    h, w = covered.shape
    ys, xs = torch.nonzero(~covered, as_tuple=True)
    if ys.numel() == 0:
        return 0
    inset = torch.minimum(torch.minimum(ys, h - 1 - ys), torch.minimum(xs, w - 1 - xs))
    return int(inset.max()) + 1


@dataclass(frozen=True)
class PreparedStack:
    """A stack fused at its working size, cropped to what every aligned frame covers.

    Attributes:
        name: the stack's name.
        frames: aligned, exposure-balanced frames [1,3,H,W] linear light, float32, focus order.
        all_in_focus: the fused image [1,3,H,W] linear light.
        disparity: depth from focus [1,1,H,W] in [0, 1] (frame 0's focus = 1).
        focus_disparities: d_k per frame (`frame_focus_disparities`).
        border_px: the border cropped from the aligned frames, pixels at the working size.
        source_wh: the frames' size as read; methods: each frame's alignment method.
    """

    name: str
    frames: list[torch.Tensor]
    all_in_focus: torch.Tensor
    disparity: torch.Tensor
    focus_disparities: list[float]
    border_px: int
    source_wh: tuple[int, int]
    methods: list[str]

    @property
    def size_wh(self) -> tuple[int, int]:
        return int(self.all_in_focus.shape[-1]), int(self.all_in_focus.shape[-2])


def prepare_stack(files: StackFiles, side_px: int) -> PreparedStack:
    """Read, resize to `side_px` on the long side, align, balance and fuse (the steps of `fuse_stack`), crop."""
    from refocus_cli.fusion.fuse import align_and_balance, depth_from_focus, fuse_aligned
    from refocus_cli.io.images import read_image

    frames, source_wh = [], (0, 0)
    for path in files.paths:
        linear = read_image(path).linear  # [1,3,H,W]
        source_wh = (int(linear.shape[-1]), int(linear.shape[-2]))
        frames.append(resize_long_side(linear, side_px))
    aligned = align_and_balance(frames)
    image, picks, fractional = fuse_aligned(aligned.frames, aligned.coverages)
    disparity = depth_from_focus(fractional, picks, len(frames))
    b = covered_border(aligned.coverages) + BORDER_MARGIN_PX

    def crop(x: torch.Tensor) -> torch.Tensor:
        return x[..., b:-b, b:-b].float().contiguous()

    return PreparedStack(
        name=files.name,
        frames=[crop(frame) for frame in aligned.frames],
        all_in_focus=crop(image),
        disparity=crop(disparity),
        focus_disparities=frame_focus_disparities(len(frames)),
        border_px=b,
        source_wh=source_wh,
        methods=aligned.methods,
    )


def srgb8(linear: torch.Tensor) -> torch.Tensor:
    """Linear light -> sRGB in [0, 1] on 8-bit levels (as a written 8-bit file holds it)."""
    from refocus_cli.colour import linear_to_srgb

    return (linear_to_srgb(linear.clamp(0, 1)) * 255).round() / 255


@dataclass(frozen=True)
class BlurFit:
    """K fitted on one frame: K (working-size pixels per unit disparity), the frame it was fitted on, and the
    PSNR (dB, sRGB) of every K tried."""

    k_px: float
    frame: int
    psnr_by_k: dict[float, float]


def fit_frame(disparity: torch.Tensor, focus_disparities: list[float]) -> int:
    """The end frame (first or last) whose focus is farthest from the median depth."""
    median = float(disparity.median())
    ends = (0, len(focus_disparities) - 1)
    return max(ends, key=lambda k: (abs(focus_disparities[k] - median), -k))


def fit_blur_k(
    all_in_focus: torch.Tensor,
    disparity: torch.Tensor,
    frame: torch.Tensor,
    focus_disparity: float,
    fit_side_px: int,
) -> tuple[float, dict[float, float]]:
    """The K (pixels per unit disparity at the inputs' size) whose physics render of `all_in_focus` [1,3,H,W] at
    `focus_disparity` best matches `frame` [1,3,H,W] (PSNR on sRGB), on copies at most `fit_side_px` long; and
    the PSNR of every K tried."""
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.metrics import psnr
    from refocus_cli.render.layered import render_layered

    image, depth, target = (resize_long_side(x, fit_side_px) for x in (all_in_focus, disparity, frame))
    scale = image.shape[-1] / all_in_focus.shape[-1]
    truth = srgb8(target)
    tried: dict[float, float] = {}

    def score(k_px: float) -> float:
        if k_px not in tried:
            rendered = render_layered(image, signed_coc_px(depth, focus_disparity, k_px * scale))
            tried[k_px] = psnr(srgb8(rendered), truth)
        return tried[k_px]

    falls = 0
    for previous, k_px in itertools.pairwise(COARSE_K_PX):  # PSNR against K is one hump: climb it
        falls = falls + 1 if score(k_px) < score(previous) else 0
        if falls == 2:
            break
    coarse = max(tried, key=tried.__getitem__)
    best = max((coarse * 2 ** (s / 8) for s in FINE_STEPS), key=score)
    best = best if score(best) > score(coarse) else coarse
    return best, dict(sorted(tried.items()))


def fit_stack_blur(stack: PreparedStack, fit_side_px: int) -> BlurFit:
    """K for the whole stack, fitted on `fit_frame`'s real frame (the module's rule)."""
    a = fit_frame(stack.disparity, stack.focus_disparities)
    k_px, tried = fit_blur_k(
        stack.all_in_focus, stack.disparity, stack.frames[a], stack.focus_disparities[a], fit_side_px
    )
    return BlurFit(k_px, a, tried)


@dataclass(frozen=True)
class Regions:
    """Where a pair is scored, [1,1,H,W] bool each: `sharpen` (the target clearly sharper than the photo) and
    `blur_add` (the photo clearly sharper than the target)."""

    sharpen: torch.Tensor
    blur_add: torch.Tensor

    def shares(self) -> tuple[float, float]:
        """The share of pixels in each region."""
        return float(self.sharpen.float().mean()), float(self.blur_add.float().mean())


def smoothed_focus(linear: torch.Tensor) -> torch.Tensor:
    """The fusion's focus measure of [1,3,H,W] linear light, smoothed by `REGION_SIGMA` of the long side."""
    from refocus_cli.filters import gaussian_blur
    from refocus_cli.fusion.fuse import focus_measure

    return gaussian_blur(focus_measure(linear), REGION_SIGMA * max(linear.shape[-2:]))


def region_masks(photo: torch.Tensor, target: torch.Tensor, *, margin: float = MARGIN) -> Regions:
    """Sharpen and blur-add regions of refocusing `photo` onto `target`'s focus (both [1,3,H,W] linear light,
    aligned); the module's rule."""
    import torch

    measure_photo, measure_target = smoothed_focus(photo), smoothed_focus(target)
    top = torch.maximum(measure_photo, measure_target)
    sample = top.flatten()[:: max(1, top.numel() // 1_000_000)]
    textured = top >= TEXTURE_FRACTION * float(torch.quantile(sample, 0.99))
    return Regions(
        sharpen=textured & (measure_target >= margin * measure_photo),
        blur_add=textured & (measure_photo >= margin * measure_target),
    )


def region_scores(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(PSNR dB, SSIM) of `image` against `target` (both [1,3,H,W] linear light) on 8-bit sRGB, over `mask`;
    nan for an empty mask."""
    from refocus_cli.metrics import masked_psnr, masked_ssim

    ours, truth = srgb8(image), srgb8(target)
    psnr = masked_psnr(ours, truth, mask)
    return (psnr if math.isnan(psnr) else round(psnr, 6)), masked_ssim(ours, truth, mask)
