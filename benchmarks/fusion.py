"""Focus stacking: quality on synthetic captured stacks with exact truth, the real pcb stack, and speed.

    python benchmarks/fusion.py synthetic --scenes 8 --blur 14      # PSNR vs truth: ours, plain, enfuse
    python benchmarks/fusion.py pcb ../shared/data/pcb-stack         # full size, and the README crop
    python benchmarks/fusion.py speed ../shared/data/pcb-stack --frames 20 --runs 3   # 20 frames of 12 MP

synthetic (`--kind hard`, the default): hard scenes (`render.hard_scenes`: 5-9 overlapping layers, big depth
jumps side by side, wires, twigs and text strokes on a quarter of the layers, fine gratings everywhere, lights
just behind edges) made at twice the frame size, one frame focused on each layer by the reference renderer
(128 aperture samples: exact where in focus), each frame softened by the lens (Gaussian, half a pixel),
magnified (focus breathing of 0.5-2% over the stack), shifted (sub-pixel drift, up to 0.9 px) and exposed
differently (flicker up to 4%), then area-averaged to the frame size (`refocus_cli.render.synthetic_stacks`).
`--kind layered` gives the older, kinder stacks (`random_layered_scene`, 0.2-0.4% breathing a frame, shifts up
to 1.5 px, 6% exposure changes).

Scores, each as [whole frame, depth-edge band, away from it]: PSNR (sRGB, 8 px border left out, where frames
lack coverage) against the true all-in-focus image of our fusion, of ours with the contrast picks alone (no
occlusion-aware step), of the plain per-pixel max-of-smoothed-|Laplacian| fusion and of enfuse (when
installed; `--exposure-weight=0 --saturation-weight=0 --contrast-weight=1 --hard-mask`, given our aligned
frames as 16-bit sRGB TIFFs), all after our alignment; and of ours and the plain one on frames put back with
the true maps (fusion alone). The band is every pixel within 3 px of a depth jump that changes the blur by a
pixel or more (a band 6 px wide). Depth order: the share of pixels whose depth-from-focus frame (rounded) is
the frame focused on their layer, at least 4 px from any depth discontinuity, and within 4 px of a depth edge;
frames less than a pixel of blur apart count as one (`depth_order_accuracy`).

speed: the pcb frames resized to 4000x3000 and cycled to `--frames` frames (each with an extra 0.1% of
magnification per frame, as a longer stack breathes), fused by `refocus stack --fuse` as a whole process;
median wall time and peak resident memory (wait4's rusage).
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

from refocus_cli.bench.fusion import score_stack, synthetic_stack


def synthetic(args: argparse.Namespace) -> None:
    rows = []
    for index in range(args.scenes):
        stack = synthetic_stack(args.seed, index, tuple(args.size), args.blur, args.samples, hard=args.kind == "hard")
        scores = score_stack(stack, args.blur, with_enfuse=not args.no_enfuse)
        row: dict[str, object] = {"scene": index, "frames": stack.frames.shape[0], "methods": scores.methods}
        for name in ("ours", "ours_contrast_picks", "plain", "enfuse", "ours_true_align", "plain_true_align"):
            region = getattr(scores, name)
            row[name] = None if region is None else [round(v, 2) for v in (region.whole, region.band, region.away)]
        row["depth_order"] = round(scores.depth_order, 4)
        row["depth_order_edges"] = round(scores.depth_order_edges, 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    means: dict[str, object] = {}
    for name in ("ours", "ours_contrast_picks", "plain", "enfuse", "ours_true_align", "plain_true_align"):
        values = [r[name] for r in rows if r[name] is not None]
        means[name] = [round(statistics.mean(v[i] for v in values), 2) for i in range(3)] if values else None
    for key in ("depth_order", "depth_order_edges"):
        means[key] = round(statistics.mean(float(r[key]) for r in rows), 4)  # type: ignore[arg-type]
    wins = sum(r["ours"][0] > r["plain"][0] for r in rows)  # type: ignore[index]
    print(json.dumps({"mean [whole, band, away]": means, "ours_beats_plain": f"{wins}/{len(rows)}", "blur": args.blur}))


def pcb(args: argparse.Namespace) -> None:
    frames = sorted(Path(args.folder).glob("pcb_*.jpg"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fused = out / "pcb-fused.jpg"
    command = [sys.executable, "-m", "refocus_cli.cli", "stack", "--fuse", *map(str, frames), "-o", str(fused)]
    wall, rss, record = run_once([*command, "--overwrite", "--json"])
    expected = np.asarray(Image.open(Path(args.folder) / "expected.jpg").convert("RGB"))
    ours = np.asarray(Image.open(fused).convert("RGB"))
    box = args.crop  # x, y, w, h
    x, y, cw, ch = box
    side = np.concatenate([ours[y : y + ch, x : x + cw], expected[y : y + ch, x : x + cw]], axis=1)
    Image.fromarray(side).save(out / "pcb-crop.jpg", quality=90)
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(rss),
                "timings_s": record["timings_s"],
                "alignment": record["alignment"],
            }
        )
    )


def speed(args: argparse.Namespace) -> None:
    sources = sorted(Path(args.folder).glob("pcb_*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for i in range(args.frames):
            image = Image.open(sources[i % len(sources)]).convert("RGB")
            grow = 1.0 + 0.001 * i
            big = image.resize((round(4000 * grow), round(3000 * grow)), Image.Resampling.BICUBIC)
            left, top = (big.width - 4000) // 2, (big.height - 3000) // 2
            path = folder / f"frame_{i:03d}.jpg"
            big.crop((left, top, left + 4000, top + 3000)).save(path, quality=92)
            paths.append(path)
        command = [sys.executable, "-m", "refocus_cli.cli", "stack", "--fuse", *map(str, paths)]
        command += ["-o", str(folder / "fused.jpg"), "--overwrite", "--json"]
        runs = [run_once(command) for _ in range(args.runs)]
    print(
        json.dumps(
            {
                "frames": args.frames,
                "size": "4000x3000",
                "median_s": round(statistics.median(r[0] for r in runs), 2),
                "runs_s": [round(r[0], 2) for r in runs],
                "peak_rss_mb": round(max(r[1] for r in runs)),
                "stages_s": runs[len(runs) // 2][2]["timings_s"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    syn = sub.add_parser("synthetic")
    syn.add_argument("--scenes", type=int, default=6)
    syn.add_argument("--kind", choices=("hard", "layered"), default="hard", help="hard stacks or the older kind ones")
    syn.add_argument("--no-enfuse", action="store_true", help="leave enfuse out even when it is installed")
    syn.add_argument("--blur", type=float, default=14.0)
    syn.add_argument("--size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"))
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--samples", type=int, default=128, help="aperture samples of the reference renders")
    syn.add_argument("--json", action="store_true")
    real = sub.add_parser("pcb")
    real.add_argument("folder")
    real.add_argument("--out", default="docs/images")
    real.add_argument("--crop", type=int, nargs=4, default=[1180, 560, 480, 360], metavar=("X", "Y", "W", "H"))
    fast = sub.add_parser("speed")
    fast.add_argument("folder")
    fast.add_argument("--frames", type=int, default=20)
    fast.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    {"synthetic": synthetic, "pcb": pcb, "speed": speed}[args.what](args)


if __name__ == "__main__":
    main()
