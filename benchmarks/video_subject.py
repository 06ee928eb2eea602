"""Video: how sharp the followed subject stays, frame by frame, on the test clips of
tests/test_video_subject_sharp.py (a textured subject moving over a textured background, 30 frames 160x120).

    python benchmarks/video_subject.py

For each run: the subject's sharpness (variance of the Laplacian on its true box less a 4 px border) in the
output over the input's, per frame; printed as min and median, one JSON line per run.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_video_cli import make_clip, run
from test_video_subject_sharp import subject_ratios

RUNS = {
    "video, exact depth clip, auto-focus": ("video", "sharp", ("--depth-video", "{depth}")),
    "video, no depth, auto-focus (background defocused)": ("video", "lens", ()),
    "bokeh-video, no depth, --focus 35,55": ("bokeh-video", "sharp", ("--focus", "35,55")),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_clip(folder / "sharp.mp4", folder / "sharp-depth.mp4")
        make_clip(folder / "lens.mp4", folder / "lens-depth.mp4", background_blur_px=2.0)
        for name, (command, clip, extra) in RUNS.items():
            source = folder / f"{clip}.mp4"
            out = folder / f"{command}-{clip}.mp4"
            options = [text.format(depth=folder / f"{clip}-depth.mp4") for text in extra]
            code, _, stderr = run(command, str(source), *options, "--offline", "-o", str(out), "--overwrite", "-q")
            if code != 0:
                raise SystemExit(stderr)
            ratios = subject_ratios(source, out)
            line = {"run": name, "min": round(min(ratios), 3), "median": round(statistics.median(ratios), 3)}
            print(json.dumps(line))


if __name__ == "__main__":
    main()
