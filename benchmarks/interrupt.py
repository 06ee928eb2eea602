"""How long a Ctrl-C takes to stop a run: SIGINT to a whole `refocus` process once it is working, and the seconds
until it has exited (its one line printed, its temporary files removed).

    python benchmarks/interrupt.py                 # 3 runs of each case
    python benchmarks/interrupt.py --runs 5

Cases: a batch of 8 photos (1600x1200, K 40) in this process and on 2 workers, interrupted 1 s after its first
output is whole; one 4000x3000 photo (tiled render), interrupted 6 s after start; one clip (48 frames of
640x360), interrupted 6 s after start. Each run checks the exit code (130), the one line, and that no hidden
temporary file is left.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CLI = [sys.executable, "-m", "refocus_cli.cli"]


def make_inputs(folder: Path) -> dict[str, Path]:
    """Noise photos (the render's cost does not depend on content), a big photo and a clip."""
    import av

    rng = np.random.default_rng(0)
    photos = folder / "photos"
    photos.mkdir()
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(photos / f"p{index}.png")
    big = folder / "big.jpg"
    Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)).save(big, quality=90)
    clip = folder / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for _ in range(48):
            frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return {"photos": photos, "big": big, "clip": clip}


def whole(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []


def stop_seconds(command: list[str], out: Path, *, after_first_output: bool, delay_s: float) -> float:
    """Start the command, wait (for its first whole output, then `delay_s`), SIGINT, and time the exit."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    if after_first_output:
        while process.poll() is None and not whole(out):
            time.sleep(0.02)
    time.sleep(delay_s)
    if process.poll() is not None:
        raise SystemExit(f"finished before the interrupt: {' '.join(command)}")
    start = time.perf_counter()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate()
    seconds = time.perf_counter() - start
    lines = err.strip().splitlines()
    folder = out if out.is_dir() else out.parent
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    if process.returncode != 130 or not lines or not lines[-1].startswith("refocus: interrupted") or leftovers:
        raise SystemExit(f"bad stop: rc {process.returncode}, {lines[-1:]}, left {leftovers}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        inputs = make_inputs(folder)
        cases = {
            "batch, this process": (
                ["image", str(inputs["photos"]), "--depth", "two-plane", "--blur", "40"],
                True,
                1.0,
            ),
            "batch, 2 workers": (
                ["image", str(inputs["photos"]), "--depth", "two-plane", "--blur", "40", "--workers", "2"],
                True,
                1.0,
            ),
            "one 12 MP photo": (["image", str(inputs["big"]), "--depth", "two-plane", "--blur", "40"], False, 6.0),
            "one clip": (["video", str(inputs["clip"]), "--depth", "two-plane", "--focus-depth", "0.5"], False, 6.0),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for run in range(args.runs):
            for index, (name, (command, after_output, delay)) in enumerate(cases.items()):
                out = folder / f"out-{run}-{index}"
                target = ["--out-dir", str(out)] if name.startswith("batch") else []
                if name.startswith("one"):
                    out.mkdir()
                    suffix = ".mp4" if "clip" in name else ".jpg"
                    target = ["-o", str(out / f"result{suffix}")]
                times[name].append(stop_seconds([*CLI, *command, *target, "-q"], out, after_first_output=after_output,
                                                delay_s=delay))  # fmt: skip
        for name, seconds in times.items():
            shown = ", ".join(f"{s:.2f}" for s in seconds)
            print(f"{name:>22}: median {statistics.median(seconds):.2f} s after SIGINT ({shown})")


if __name__ == "__main__":
    main()
