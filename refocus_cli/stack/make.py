"""`refocus stack IN` as a library call: a focal stack from one photo, written as MP4, GIF, PNGs or a page."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refocus_cli.aperture import ApertureShape
from refocus_cli.depth.choose import DepthRequest, choose_depth
from refocus_cli.devices import resolve_device
from refocus_cli.focus import FocusSpec
from refocus_cli.io.animation import ping_pong, write_gif, write_mp4, write_png_folder
from refocus_cli.io.images import encode_srgb, read_image
from refocus_cli.render.planes import settings_for_quality
from refocus_cli.stack.page import write_page
from refocus_cli.stack.settings import check_stack_settings
from refocus_cli.stack.sweep import render_sweep, sweep_focus_disparities


@dataclass(frozen=True)
class StackRequest:
    """One photo to turn into a focal stack of `frames` frames, nearest focus first."""

    input_path: Path
    output_path: Path
    frames: int = 24
    format: str = "mp4"
    fps: float = 12.0
    blur_k_px: float = 8.0
    aperture: ApertureShape = field(default_factory=ApertureShape)
    quality: str = "fast"
    device: str = "auto"
    depth_path: Path | None = None
    depth_kind: str = "auto"
    depth_source: str = "auto"
    overwrite: bool = False


@dataclass(frozen=True)
class StackResult:
    """What was written; `to_record()` is the `--json` line."""

    input_path: Path
    output_path: Path
    format: str
    focus_disparities: list[float]
    depth_source: str
    notes: tuple[str, ...]
    timings_s: dict[str, float]

    def to_record(self) -> dict[str, Any]:
        return {
            "input": str(self.input_path),
            "output": str(self.output_path),
            "format": self.format,
            "frames": len(self.focus_disparities),
            "focus_disparities": self.focus_disparities,
            "depth_source": self.depth_source,
            "notes": list(self.notes),
            "timings_s": {name: round(seconds, 4) for name, seconds in self.timings_s.items()},
        }


def make_focal_stack(request: StackRequest) -> StackResult:
    """Render the focal stack of one photo and write it in the requested format.

    Raises:
        RefocusError: unreadable photo or depth, bad settings, an output that exists (without overwrite).
    """
    check_stack_settings(request.frames, request.format, request.fps, request.blur_k_px)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    device = resolve_device(request.device)
    loaded = read_image(request.input_path)
    depth_request = DepthRequest(
        request.input_path, request.depth_path, request.depth_kind, request.depth_source, device=request.device
    )
    depth, notes = choose_depth(depth_request, loaded, FocusSpec())
    focus = sweep_focus_disparities(depth.disparity, request.frames)
    timings["read"] = time.perf_counter() - start

    start = time.perf_counter()
    bit_depth = loaded.bit_depth if request.format == "png" else 8
    sweep = render_sweep(
        loaded.linear.to(device),
        depth.disparity.to(device),
        focus,
        request.blur_k_px,
        aperture=request.aperture,
        settings=settings_for_quality(request.quality, request.aperture),
    )
    encoded = (encode_srgb(frame.linear.cpu(), bit_depth) for frame in sweep)
    out = request.output_path
    if request.format in ("mp4", "gif"):
        frames = list(encoded)
        looped = (frames[i] for i in ping_pong(len(frames)))
        writer = write_mp4 if request.format == "mp4" else write_gif
        writer(out, looped, fps=request.fps, overwrite=request.overwrite)
    elif request.format == "png":
        index = {"input": str(request.input_path), "depth_source": depth.source, "focus_disparities": focus}
        index["frames"] = [f"frame_{i:03d}.png" for i in range(len(focus))]
        write_png_folder(out, encoded, index, overwrite=request.overwrite)
    else:
        out = write_page(
            out, encoded, focus, depth.disparity, title=request.input_path.name, overwrite=request.overwrite
        )
    timings["render_and_write"] = time.perf_counter() - start
    return StackResult(request.input_path, out, request.format, focus, depth.source, tuple(notes), timings)
