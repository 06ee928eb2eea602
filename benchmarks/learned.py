"""The learned engine against the physics engine, with and without restore, on scenes never seen in training;
and its speed.

    python benchmarks/learned.py quality DATASET --model models/refocus-small [--split test] [--json]
    python benchmarks/learned.py speed --model models/refocus-small --runs 3      # 1024x768 on this machine

quality: every pair of the split of a `refocus simulate` dataset (procedural scenes: the targets are exact
thin-lens renders). Each engine refocuses the pair's input onto the target's focus plane with the target's K,
from the input itself ("without restore") or from restore's all-in-focus estimate of it ("with restore",
restore's `auto` mode as `--restore auto` uses it); PSNR and SSIM on sRGB against the target. Reported over all
pairs, and over the refocus-from-defocused cases alone (pairs whose input is itself defocused, not the
all-in-focus image).

speed: the bundled motorcycle photo and its disparity resized to 1024x768, refocused by each engine in this
process after a warm-up; the median of `--runs` (engine only: no reading or writing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from refocus_cli.bench.inputs import motorcycle_tensors
from refocus_cli.colour import linear_to_srgb, srgb_to_linear
from refocus_cli.learned.data import manifest_rows, read_png
from refocus_cli.learned.engine import learned_render
from refocus_cli.lens import signed_coc_px
from refocus_cli.metrics import psnr, ssim
from refocus_cli.render.layered import render_layered
from refocus_cli.restore import restore_all_in_focus

METHODS = ("learned", "learned + restore", "physics", "physics + restore")


def refocused(
    method: str, photo: torch.Tensor, disparity: torch.Tensor, focus: float, k: float, model: str
) -> torch.Tensor:
    """[1,3,H,W] linear: `photo` refocused by the learned or the physics engine ("... + restore": `photo` is
    then restore's all-in-focus estimate already)."""
    if method.startswith("learned"):
        return learned_render(photo, disparity, focus, k, model=model, device=torch.device("cpu"))
    return render_layered(photo, signed_coc_px(disparity, focus, k))


def quality(args: argparse.Namespace) -> None:
    dataset = Path(args.dataset)
    rows = manifest_rows(dataset, "pair", args.split)
    scores: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": [], "defocused": []} for m in METHODS}
    for row in rows:
        photo = srgb_to_linear(read_png(dataset / row["input"]["image"])).unsqueeze(0)
        target = read_png(dataset / row["target"]["image"]).unsqueeze(0)  # sRGB
        disparity = read_png(dataset / row["depth"]).unsqueeze(0)
        focus, k = float(row["target"]["focus_disparity"]), float(row["target"]["blur_k_px"])
        restored = restore_all_in_focus(photo, disparity, mode="auto").all_in_focus
        for method in METHODS:
            source = restored if method.endswith("+ restore") else photo
            with torch.no_grad():
                out = linear_to_srgb(refocused(method, source, disparity, focus, k, args.model).clamp(0, 1))
            scores[method]["psnr"].append(psnr(out, target))
            scores[method]["ssim"].append(ssim(out, target))
            scores[method]["defocused"].append(0.0 if row["input"]["all_in_focus"] else 1.0)
    summary = {}
    for method, values in scores.items():
        defocused = [i for i, d in enumerate(values["defocused"]) if d]
        summary[method] = {
            "psnr": round(statistics.mean(values["psnr"]), 2),
            "ssim": round(statistics.mean(values["ssim"]), 4),
            "defocused_psnr": round(statistics.mean(values["psnr"][i] for i in defocused), 2),
            "defocused_ssim": round(statistics.mean(values["ssim"][i] for i in defocused), 4),
        }
    cases = len(rows), int(sum(scores[METHODS[0]]["defocused"]))
    print(json.dumps({"split": args.split, "pairs": cases[0], "defocused_pairs": cases[1], "methods": summary}))
    if not args.json:
        print(f"\n| engine | PSNR, all {cases[0]} pairs | SSIM | PSNR, {cases[1]} from defocused | SSIM |")
        print("|---|---|---|---|---|")
        for method, s in summary.items():
            cells = f"{s['psnr']:.2f} | {s['ssim']:.4f} | {s['defocused_psnr']:.2f} | {s['defocused_ssim']:.4f}"
            print(f"| {method} | {cells} |")


def speed(args: argparse.Namespace) -> None:
    linear, disparity, _ = motorcycle_tensors(1024, 768)
    result = {}
    for method in ("learned", "physics"):
        times = []
        for run in range(args.runs + 1):
            start = time.perf_counter()
            with torch.no_grad():
                refocused(method, linear, disparity, 0.6, 12.0, args.model)
            if run:  # the first is a warm-up (loading, allocation)
                times.append(time.perf_counter() - start)
        result[method] = {"median_s": round(statistics.median(times), 3), "runs": [round(t, 3) for t in times]}
    print(json.dumps({"size": "1024x768", "threads": torch.get_num_threads(), **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("dataset")
    q.add_argument("--model", required=True)
    q.add_argument("--split", default="test")
    q.add_argument("--json", action="store_true")
    s = sub.add_parser("speed")
    s.add_argument("--model", required=True)
    s.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    quality(args) if args.command == "quality" else speed(args)


if __name__ == "__main__":
    main()
