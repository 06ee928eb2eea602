"""Median time and peak memory of `refocus image` as a whole process, on this machine's CPU.

    python benchmarks/speed.py                       # 1920x1080 and 4000x3000, K = 8 and 24, 5 runs each
    python benchmarks/speed.py --sizes 1920x1080 --runs 3

Inputs are the bundled motorcycle photo and its disparity, resized to each size (so the depth has real
structure: edges, a receding floor, a cluttered background).  Each run is a fresh process; its wall time
and peak resident memory come from the operating system (wait4's rusage), and `--json` splits the time into
read, render and write; the rest is start-up (Python, torch import).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from process import run_once  # benchmarks/process.py

from refocus_cli.bench.inputs import motorcycle_resized


def make_inputs(width: int, height: int, folder: Path) -> tuple[Path, Path]:
    """The motorcycle photo and its 16-bit disparity, resized to width x height."""
    photo, depth = motorcycle_resized(width, height)
    image_path, depth_path = folder / f"in-{width}x{height}.jpg", folder / f"depth-{width}x{height}.png"
    photo.save(image_path, quality=92)
    Image.fromarray(np.round(depth).astype(np.uint16)).save(depth_path)
    return image_path, depth_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1920x1080", "4000x3000"])
    parser.add_argument("--blur", type=float, nargs="+", default=[8.0, 24.0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quality", choices=["fast", "fine"], default="fast")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            image_path, depth_path = make_inputs(width, height, folder)
            for blur in args.blur:
                out = folder / f"out-{size}-{blur:g}.jpg"
                command = [
                    sys.executable,
                    "-m",
                    "refocus_cli.cli",
                    "image",
                    str(image_path),
                    "--depth",
                    str(depth_path),
                    "--focus",
                    f"{int(width * 0.55)},{int(height * 0.45)}",
                    "--blur",
                    f"{blur:g}",
                    "-o",
                    str(out),
                    "--overwrite",
                    "--json",
                    "--device",
                    "cpu",
                    "--quality",
                    args.quality,
                ]
                run_once(command)  # warm-up: file cache, lazy imports
                runs = [run_once(command) for _ in range(args.runs)]
                stages = {k: statistics.median(r[2]["timings_s"][k] for r in runs) for k in runs[0][2]["timings_s"]}
                row = {
                    "size": size,
                    "blur": blur,
                    "median_s": round(statistics.median(r[0] for r in runs), 3),
                    "min_s": round(min(r[0] for r in runs), 3),
                    "max_s": round(max(r[0] for r in runs), 3),
                    "peak_rss_mb": round(max(r[1] for r in runs), 1),
                    "stages_s": {k: round(v, 3) for k, v in stages.items()},
                }
                row["startup_s"] = round(row["median_s"] - sum(stages.values()), 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| input | K | median s (min-max) | peak RSS MB | read | render | write | start-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["stages_s"]
        print(
            f"| {r['size']} | {r['blur']:g} | {r['median_s']} ({r['min_s']}-{r['max_s']}) | {r['peak_rss_mb']} "
            f"| {s.get('read', 0)} | {s.get('render', 0)} | {s.get('write', 0)} | {r['startup_s']} |"
        )


if __name__ == "__main__":
    main()
