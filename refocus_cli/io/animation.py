"""Writing frame sequences: H.264 MP4 (PyAV), animated GIF (Pillow) and numbered PNG folders, atomically."""

from __future__ import annotations

import json
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from refocus_cli.io.atomic import atomic_folder, atomic_output

GIF_SIDE_PX = 1024
"""GIF frames are scaled to at most this long side (a GIF of full-size photos would be hundreds of MB)."""
MP4_CRF = 18


def write_mp4(path: Path, frames: Iterable[np.ndarray], *, fps: float, overwrite: bool) -> int:
    """Encode [H,W,3] uint8 sRGB frames as H.264 (yuv420p, CRF 18) in an MP4, atomically; returns the count.

    Odd widths or heights lose their last column or row (4:2:0 needs even sizes).
    """
    import av

    count = 0
    with atomic_output(path, overwrite=overwrite) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream: Any = None
        for frame in frames:
            h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                stream.options = {"crf": str(MP4_CRF), "preset": "medium", "movflags": "+faststart"}
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return count


def write_gif(path: Path, frames: Iterable[np.ndarray], *, fps: float, overwrite: bool) -> int:
    """An endlessly looping GIF of [H,W,3] uint8 frames, scaled to at most `GIF_SIDE_PX`; returns the count."""
    images = []
    for frame in frames:
        image = Image.fromarray(frame)
        scale = min(1.0, GIF_SIDE_PX / max(image.size))
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        images.append(image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    if not images:
        raise ValueError("no frames")
    with atomic_output(path, overwrite=overwrite) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return len(images)


def write_png_folder(folder: Path, frames: Iterable[np.ndarray], index: dict[str, Any], *, overwrite: bool) -> int:
    """Numbered PNGs (`frame_000.png`, ...; uint8 or uint16 [H,W,3]) and `index.json` holding `index`, written
    to a hidden temporary folder renamed into place; returns the count."""
    count = 0
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp / f"frame_{i:03d}.png")
            count = i + 1
        (tmp / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return count


def ping_pong(count: int) -> list[int]:
    """Frame order for a sweep that loops smoothly: there and back, the ends shown once.

    >>> ping_pong(4)
    [0, 1, 2, 3, 2, 1]
    """
    return list(range(count)) + list(range(count - 2, 0, -1))
