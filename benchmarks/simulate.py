"""Throughput of `refocus simulate`: 512x512 procedural pairs per second with one worker and with two.

    python benchmarks/simulate.py                    # 16 pairs (4 scenes), 1 and 2 workers, 3 runs each
    python benchmarks/simulate.py --count 8 --runs 1 --size 256

Each run is a fresh whole process (`refocus simulate --source procedural`, default settings but the size):
pairs per second is pairs / wall time, start-up included; the run's own figure (its --json record, from
planning to the manifest) is printed beside it. Every scene also renders its stacking group (5 frames), so a
scene of 4 pairs is up to 13 reference renders. Runs of one and two workers alternate, so that the machine's
load drifts over both alike; the speed-up is the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from process import run_once  # benchmarks/process.py


def run(folder: Path, count: int, workers: int, settings: Path, index: int) -> tuple[float, float, dict]:
    out = folder / f"w{workers}-{index}"
    command = [sys.executable, "-m", "refocus_cli.cli", "simulate", "--source", "procedural", "--out", str(out),
               "--count", str(count), "--workers", str(workers), "--config", str(settings), "--json"]  # fmt: skip
    return run_once(command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16, help="pairs per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    walls: dict[int, list[float]] = {w: [] for w in args.workers}
    inner: dict[int, list[float]] = {w: [] for w in args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = folder / "size.toml"
        settings.write_text(f"[scene]\nsize = [{args.size}, {args.size}]\n")
        for index in range(args.runs):
            for workers in args.workers:
                wall, peak_mb, record = run(folder, args.count, workers, settings, index)
                walls[workers].append(wall)
                inner[workers].append(record["seconds"])
                print(json.dumps({"workers": workers, "run": index, "wall_s": round(wall, 2),
                                  "run_s": record["seconds"], "peak_mb": round(peak_mb)}), flush=True)  # fmt: skip
    summary = {}
    for workers in args.workers:
        wall, run_s = statistics.median(walls[workers]), statistics.median(inner[workers])
        summary[workers] = {
            "median_wall_s": round(wall, 2),
            "pairs_per_s": round(args.count / wall, 4),
            "pairs_per_s_in_run": round(args.count / run_s, 4),
        }
    first, last = args.workers[0], args.workers[-1]
    speedup = summary[first]["median_wall_s"] / summary[last]["median_wall_s"]
    print(json.dumps({"size": args.size, "pairs": args.count, "workers": summary, "speedup": round(speedup, 2)}))


if __name__ == "__main__":
    main()
