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

from process import run_once  # benchmarks/process.py

from refocus_cli.bench.clips import card_subject_xy, write_card_clip


def run_clip(folder: Path, width: int, height: int, frames: int, blur: float) -> tuple[float, float, dict]:
    paths = write_card_clip(folder, width, height, frames)
    command = [sys.executable, "-m", "refocus_cli.cli", "bokeh-video", str(paths.clip)]
    x, y = card_subject_xy(width, height)
    command += [
        "--depth-video",
        str(paths.depth),
        "--blur",
        str(blur),
        "--focus",
        f"{x},{y}",
        "-o",
        str(folder / "out.mp4"),
    ]
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
