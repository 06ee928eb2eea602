"""Video: frames per second of `refocus bokeh-video`, and memory as the clip grows.

    python benchmarks/video.py speed --sizes 1280x720 1920x1080 --frames 48 --blur 12
    python benchmarks/video.py memory --frames 30 300 --size 320x240

The clips are made here: a textured background panning behind three textured cards at different depths that
move across it, H.264 (CRF 18), with its depth clip frame for frame (lossless RGB H.264: background 40, the
cards 120, 180 and 240). Each run is a whole `refocus bokeh-video --depth-video ... --blur K --focus X,Y`
process (the subject, the nearest card, followed): wall time, peak resident memory (wait4's rusage), and the
pipe's own timings from its --json record (decode/depth/focus, render, encode). fps is frames over the whole
process's wall time (start-up included) and, beside it, over the pipe's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from process import run_once  # benchmarks/process.py

CARDS = ((0.18, 0.25, 120, 1.0), (0.42, 0.45, 180, -1.5), (0.62, 0.2, 240, 2.0))
"""(x, y as shares of the frame, depth grey level, speed in px/frame at 1080p)."""


def make_clip(folder: Path, width: int, height: int, frames: int) -> tuple[Path, Path]:
    """clip.mp4 and depth.mp4 in `folder`; returns their paths."""
    import av
    import cv2

    rng = np.random.default_rng(0)
    pan = frames * 2 + 8
    texture = cv2.GaussianBlur((rng.random((height, width + pan, 3)) * 255).astype(np.float32), (0, 0), 1.2)
    background = np.clip(texture * 1.6 - 80, 0, 255).astype(np.uint8)
    side = height // 4
    cards = [(rng.random((side, side, 3)) * 255).astype(np.uint8) for _ in CARDS]
    scale = height / 1080
    paths = folder / "clip.mp4", folder / "depth.mp4"
    with av.open(str(paths[0]), "w") as clip, av.open(str(paths[1]), "w") as depth_clip:
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


def subject_xy(width: int, height: int) -> str:
    """The nearest card's centre in the first frame."""
    x, y, _, _ = CARDS[2]
    side = height // 4
    return f"{int(x * width) % (width - side) + side // 2},{int(y * height) + side // 2}"


def run_clip(folder: Path, width: int, height: int, frames: int, blur: float) -> tuple[float, float, dict]:
    clip, depth = make_clip(folder, width, height, frames)
    command = [sys.executable, "-m", "refocus_cli.cli", "bokeh-video", str(clip), "--depth-video", str(depth)]
    command += ["--blur", str(blur), "--focus", subject_xy(width, height), "-o", str(folder / "out.mp4")]
    return run_once([*command, "--overwrite", "--json"])


def speed(args: argparse.Namespace) -> None:
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                runs.append(run_clip(Path(tmp), width, height, args.frames, args.blur))
        walls = [r[0] for r in runs]
        middle = runs[walls.index(statistics.median(walls))] if args.runs % 2 else runs[0]
        timings = middle[2]["timings_s"]
        print(
            json.dumps(
                {
                    "size": size,
                    "frames": args.frames,
                    "blur": args.blur,
                    "median_wall_s": round(statistics.median(walls), 2),
                    "runs_s": [round(w, 2) for w in walls],
                    "fps_whole_process": round(args.frames / statistics.median(walls), 2),
                    "fps_pipe": round(args.frames / timings["total"], 2),
                    "peak_rss_mb": round(max(r[1] for r in runs)),
                    "stages_s": timings,
                }
            ),
            flush=True,
        )


def memory(args: argparse.Namespace) -> None:
    width, height = (int(v) for v in args.size.split("x"))
    for frames in args.frames:
        with tempfile.TemporaryDirectory() as tmp:
            wall, rss, _ = run_clip(Path(tmp), width, height, frames, args.blur)
        print(json.dumps({"frames": frames, "size": args.size, "peak_rss_mb": round(rss), "wall_s": round(wall, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fast = sub.add_parser("speed")
    fast.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    fast.add_argument("--frames", type=int, default=48)
    fast.add_argument("--blur", type=float, default=12.0)
    fast.add_argument("--runs", type=int, default=1)
    mem = sub.add_parser("memory")
    mem.add_argument("--frames", type=int, nargs="+", default=[30, 300])
    mem.add_argument("--size", default="320x240")
    mem.add_argument("--blur", type=float, default=12.0)
    args = parser.parse_args()
    {"speed": speed, "memory": memory}[args.what](args)


if __name__ == "__main__":
    main()
