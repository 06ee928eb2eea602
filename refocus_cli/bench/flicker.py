"""Video flicker with and without depth stabilisation: a static clip whose depth frames each have their own
scale, shift and noise (`write_static_noisy_clip`), refocused by the video pipe; on a static scene every change
between output frames is flicker (`refocus_cli.metrics.temporal_flicker`, in 8-bit levels)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.bench.clips import STATIC_SUBJECT_DISPARITY, ClipPaths, write_static_noisy_clip
from refocus_cli.bench.plan import FidelityPlan
from refocus_cli.bench.report import BenchRow, StepResult

if TYPE_CHECKING:
    import torch

FLICKER_BLUR_K_PX = 12.0


def read_frame_folder(folder: Path) -> torch.Tensor:
    """The PNG frames of `folder`, sorted by name: [T,C,H,W] float32 in 8-bit levels (0-255); C = 1 for grey."""
    import numpy as np
    import torch
    from PIL import Image

    frames = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            frames.append(np.atleast_3d(np.asarray(image, dtype=np.float32)))  # grey [H,W] -> [H,W,1]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


def refocused_flicker(clip: ClipPaths, output: Path, *, stabilise: bool, device: str) -> float:
    """Flicker of the static clip refocused on its near rectangle (K 12) as PNG frames in `output`."""
    from refocus_cli.metrics import temporal_flicker
    from refocus_cli.video.pipeline import VideoRequest, refocus_video

    request = VideoRequest(
        input_path=clip.clip,
        output_path=output,
        depth_video=clip.depth,
        focus_disparity=STATIC_SUBJECT_DISPARITY,
        blur_k_px=FLICKER_BLUR_K_PX,
        stabilise=stabilise,
        restore="off",
        device=device,
    )
    refocus_video(request)
    return temporal_flicker(read_frame_folder(output))


def flicker_step(plan: FidelityPlan, device: str, seed: int) -> StepResult:
    """Flicker with stabilisation beside flicker without it."""
    width, height = plan.flicker_size_wh
    with tempfile.TemporaryDirectory(prefix="refocus-bench-") as tmp:
        folder = Path(tmp)
        clip = write_static_noisy_clip(folder, width, height, plan.flicker_frames, seed=seed + 3)
        flicker = {
            flag: refocused_flicker(clip, folder / f"out-{flag}", stabilise=flag, device=device)
            for flag in (True, False)
        }
    row = BenchRow(
        "video depth stabilisation",
        f"static {width}x{height}, {plan.flicker_frames} frames, K {FLICKER_BLUR_K_PX:g}",
        "flicker",
        flicker[True],
        "no stabilisation",
        flicker[False],
        "levels",
        "lower",
        "mean absolute change between output frames, 8-bit levels; a still image with noisy depth per frame",
    )
    return StepResult((row,))
