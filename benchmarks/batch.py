"""Throughput of `refocus image` batches: files per second for 1 and 2 local workers (and a Ray cluster), each a
whole process timed from start to exit, runs interleaved so the machine's load falls on all alike.

    python benchmarks/batch.py                          # 4 bundled photos x 4 copies, workers 1 and 2, 3 runs
    python benchmarks/batch.py --copies 2 --runs 1 --ray local

The photos are the bundled motorcycle and the photos scikit-image bundles (astronaut, chelsea, coffee), with
depth as `refocus image` finds it without a depth file (the learned model when it is installed, else the
photo's defocus or the two-plane approximation). Every run writes to a fresh folder; the runs are checked to
write the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def make_batch(folder: Path, copies: int) -> Path:
    """A folder with `copies` of each bundled photo."""
    from skimage import data

    photos = folder / "photos"
    photos.mkdir()
    sources = {name: Image.fromarray(getattr(data, name)()) for name in ("astronaut", "chelsea", "coffee")}
    for copy in range(copies):
        shutil.copy(ROOT / "examples" / "motorcycle.jpg", photos / f"motorcycle-{copy}.jpg")
        for name, image in sources.items():
            image.convert("RGB").save(photos / f"{name}-{copy}.jpg", quality=92)
    return photos


def run_batch(photos: Path, out: Path, extra: list[str]) -> float:
    """Seconds for one whole `refocus image` process over the folder."""
    command = [sys.executable, "-m", "refocus_cli.cli", "image", str(photos), "--blur", "12", "--out-dir", str(out),
               "--quiet", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"batch failed: {done.stderr.strip()}")
    return seconds


def same_bytes(a: Path, b: Path) -> bool:
    files = sorted(p.name for p in a.iterdir())
    return files == sorted(p.name for p in b.iterdir()) and all(
        (a / name).read_bytes() == (b / name).read_bytes() for name in files
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of each of the 4 photos")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ray", help="also a Ray run at this address (auto, local, host:port)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photos = make_batch(Path(folder), args.copies)
        count = len(list(photos.iterdir()))
        ways = {f"--workers {n}": ["--workers", str(n)] for n in args.workers}
        if args.ray:
            ways[f"--ray {args.ray}"] = ["--ray", args.ray]
        times: dict[str, list[float]] = {way: [] for way in ways}
        first: Path | None = None
        for run in range(args.runs):
            for index, (way, extra) in enumerate(ways.items()):
                out = Path(folder) / f"out-{run}-{index}"
                times[way].append(run_batch(photos, out, extra))
                first = first or out
                if not same_bytes(first, out):
                    raise SystemExit(f"{way} wrote other bytes than the first run")
        base = statistics.median(times[next(iter(ways))])
        print(f"{count} photos, {args.runs} runs each, interleaved; whole processes (start-up included)")
        for way, seconds in times.items():
            median = statistics.median(seconds)
            print(f"{way:>16}: median {median:6.1f} s  {count / median:5.2f} files/s  x{base / median:.2f}")


if __name__ == "__main__":
    main()
