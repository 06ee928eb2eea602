"""Clips the bench makes for itself, written to a folder.

* `write_card_clip`: a textured background panning behind three textured cards at different depths that move
  across it, H.264 (CRF 18), with its depth clip frame for frame (lossless RGB H.264: background 40, the cards
  120, 180 and 240). For video speed.
* `write_static_noisy_clip`: one still image repeated as PNG frames, with a depth frame per frame that has its
  own scale, shift and noise, as a monocular estimator gives. For flicker: every change between output frames
  is flicker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CARDS = ((0.18, 0.25, 120, 1.0), (0.42, 0.45, 180, -1.5), (0.62, 0.2, 240, 2.0))
"""(x, y as shares of the frame, depth grey level, speed in px/frame at 1080p)."""


@dataclass(frozen=True)
class ClipPaths:
    """A clip and its depth clip (files, or folders of frames)."""

    clip: Path
    depth: Path


def write_card_clip(folder: Path, width: int, height: int, frames: int, *, seed: int = 0) -> ClipPaths:
    """clip.mp4 and depth.mp4 in `folder` (30 fps, `frames` long, width x height)."""
    import av
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    pan = frames * 2 + 8
    texture = cv2.GaussianBlur((rng.random((height, width + pan, 3)) * 255).astype(np.float32), (0, 0), 1.2)
    background = np.clip(texture * 1.6 - 80, 0, 255).astype(np.uint8)
    side = height // 4
    cards = [(rng.random((side, side, 3)) * 255).astype(np.uint8) for _ in CARDS]
    scale = height / 1080
    paths = ClipPaths(folder / "clip.mp4", folder / "depth.mp4")
    with av.open(str(paths.clip), "w") as clip, av.open(str(paths.depth), "w") as depth_clip:
        video = clip.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "18", "preset": "veryfast"}
        depth = depth_clip.add_stream("libx264rgb", rate=30)
        depth.width, depth.height, depth.pix_fmt = width, height, "rgb24"
        depth.options = {"qp": "0", "preset": "veryfast"}
        for i in range(frames):
            image = background[:, 2 * i : 2 * i + width].copy()
            disparity = np.full((height, width, 3), 40, np.uint8)
            for card, (x, y, level, speed) in zip(cards, CARDS, strict=True):
                left = int(x * width + speed * scale * i) % (width - side)
                top = int(y * height)
                image[top : top + side, left : left + side] = card
                disparity[top : top + side, left : left + side] = level
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                clip.mux(packet)
            for packet in depth.encode(av.VideoFrame.from_ndarray(disparity, format="rgb24")):
                depth_clip.mux(packet)
        for packet in video.encode():
            clip.mux(packet)
        for packet in depth.encode():
            depth_clip.mux(packet)
    return paths


def card_subject_xy(width: int, height: int) -> tuple[int, int]:
    """The nearest card's centre in the first frame of `write_card_clip`, in pixels."""
    x, y, _, _ = CARDS[2]
    side = height // 4
    return int(x * width) % (width - side) + side // 2, int(y * height) + side // 2


STATIC_SUBJECT_DISPARITY = 0.95
"""The disparity of the static clip's near rectangle (focus there: the rest is blurred by the noisy depth)."""


def write_static_noisy_clip(folder: Path, width: int, height: int, frames: int, *, seed: int = 3) -> ClipPaths:
    """`folder/frames/0000.png ...` (one noise image, repeated) and `folder/depths/0000.png ...` (8-bit
    disparity, white near): a left-to-right ramp 0.1 .. 0.9 with a near rectangle at 0.95, each frame scaled by
    U(0.85, 1.15), shifted by U(-0.05, 0.05) and with Gaussian noise of 0.03, then clipped to [0, 1]."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = ClipPaths(folder / "frames", folder / "depths")
    paths.clip.mkdir(parents=True, exist_ok=True)
    paths.depth.mkdir(parents=True, exist_ok=True)
    image = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    truth = np.tile(np.linspace(0.1, 0.9, width, dtype=np.float32), (height, 1))
    truth[height // 4 : height * 2 // 3, width // 4 : width * 5 // 8] = STATIC_SUBJECT_DISPARITY
    for i in range(frames):
        Image.fromarray(image).save(paths.clip / f"{i:04d}.png")
        noisy = truth * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05) + rng.normal(0, 0.03, truth.shape)
        Image.fromarray((np.clip(noisy, 0, 1) * 255).astype(np.uint8)).save(paths.depth / f"{i:04d}.png")
    return paths
