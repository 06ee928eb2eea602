"""Side by side with peers: our focus stacking against align_image_stack + enfuse, and the layered renderer
against a plain 32-layer FFT renderer (the code and its rules: `refocus_cli/bench/peers.py`).

    python benchmarks/peers.py fusion ../shared/data --runs 3     # both stacks, medians of alternating runs
    python benchmarks/peers.py renderer --size 1920 1080 --blur 24 --runs 3 --scenes 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from refocus_cli.bench.peers import STACKS, fuse_both, install_peers, renderer_psnr, time_renderers


def fusion(args: argparse.Namespace) -> None:
    problem = install_peers()
    if problem is not None:
        raise SystemExit(problem)
    for name in STACKS:
        folder = Path(args.data) / name
        if not folder.is_dir():
            print(json.dumps({"stack": name, "skipped": f"no {folder}"}))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            runs = [fuse_both(folder, Path(tmp)) for _ in range(args.runs)]  # ours and peers alternate
        median = {
            f"{who}_{what}": round(statistics.median(getattr(getattr(r, who), what) for r in runs), 2)
            for who in ("ours", "peers")
            for what in ("cpu_s", "wall_s", "peak_mb")
        }
        print(
            json.dumps(
                {
                    "stack": name,
                    "frames": runs[0].frames,
                    "size": "x".join(map(str, runs[0].size_wh)),
                    **median,
                    "cpu_ratio": round(median["ours_cpu_s"] / median["peers_cpu_s"], 3),
                    "ours_cpu_runs": [round(r.ours.cpu_s, 2) for r in runs],
                    "peers_cpu_runs": [round(r.peers.cpu_s, 2) for r in runs],
                    "ours_sharp": round(runs[0].ours_sharp, 4),
                    "peers_sharp": round(runs[0].peers_sharp, 4),
                }
            ),
            flush=True,
        )


def renderer(args: argparse.Namespace) -> None:
    width, height = args.size
    timed = time_renderers(width, height, args.blur, args.runs)
    ours_psnr, fft_psnr = renderer_psnr(args.scenes, (192, 256), args.fidelity_blur, args.seed)
    record = {
        "size": f"{width}x{height}",
        "blur": args.blur,
        "layered_s": round(timed.layered_s, 3),
        "fft32_s": round(timed.fft_s, 3),
        "fft_over_layered": round(timed.ratio, 2),
        "fidelity_blur": args.fidelity_blur,
        "scenes": args.scenes,
        "layered_psnr": round(ours_psnr, 2),
        "fft32_psnr": round(fft_psnr, 2),
    }
    print(json.dumps(record))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fuse = sub.add_parser("fusion")
    fuse.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    fuse.add_argument("--runs", type=int, default=3)
    render = sub.add_parser("renderer")
    render.add_argument("--size", type=int, nargs=2, default=[1920, 1080], metavar=("W", "H"))
    render.add_argument("--blur", type=float, default=24.0)
    render.add_argument("--runs", type=int, default=3)
    render.add_argument("--scenes", type=int, default=4)
    render.add_argument("--fidelity-blur", type=float, default=12.0)
    render.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    {"fusion": fusion, "renderer": renderer}[args.what](args)


if __name__ == "__main__":
    main()
