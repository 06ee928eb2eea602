"""Real photos: each captured focal stack's frame i refocused onto frame j's focus, scored against the real frame j.

    python benchmarks/real.py                                     # every stack under ../shared/data, 1024 px, 4 pairs
    python benchmarks/real.py --size 384 --pairs ends --stacks keyboard-stack     # the quick bench's case
    python benchmarks/real.py --size 384 --picture docs/images/real-refocus-crops.jpg

The measurement of `refocus bench`'s real section (`refocus_cli/bench/real.py`; conventions in
`refocus_cli/bench/real_stacks.py`): frames resized to `--size` on the long side, aligned, balanced and fused by
the steps of `refocus stack --fuse`, compared after that alignment with the border no frame covers cropped; frame
k's focus disparity d_k = 1 - k / (count - 1) (the depth from focus's convention); K fitted once per stack on the
end frame farthest from the median depth; sharpen regions where frame j's focus measure is at least 4 times frame
i's (textured pixels only), blur-add regions the reverse. PSNR and SSIM on 8-bit sRGB, per region. Prints one
line per pair, then a markdown table per stack and of the mean over stacks.

--picture PATH: crops side by side (input, ours = physics with restore from the photo's fitted blur, the real
target) around the densest sharpen region of the pair with the largest sharpen share of the first stack, each
panel enlarged 2x (nearest neighbour); JPEG.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.bench.engines import learned_engines
from refocus_cli.bench.plan import RealPlan
from refocus_cli.bench.real import METRICS, REGIONS, RESTORE_FITTED, ROWS, mean_finite, score_stack, stack_means
from refocus_cli.bench.real_stacks import DEFAULT_DATA_DIR, Regions, find_stacks, prepare_stack, srgb8

CROP_PX = 128
GAP_PX = 6


def densest_window(mask: torch.Tensor, size: int) -> tuple[int, int]:
    """(y, x) of the `size`-square window (stride 4) holding most of `mask` [1,1,H,W]."""
    size = min(size, *mask.shape[-2:])
    density = F.avg_pool2d(mask.float(), size, stride=4)
    flat = int(density.flatten().argmax())
    return 4 * (flat // density.shape[-1]), 4 * (flat % density.shape[-1])


def picture(images: dict[str, torch.Tensor], regions: Regions, target: torch.Tensor, path: Path) -> None:
    """input | ours | real target, cropped around the densest sharpen region, 2x, white gaps; JPEG under 300 KB."""
    y, x = densest_window(regions.sharpen, CROP_PX)
    panels = [images[ROWS[0]], images[RESTORE_FITTED], target]
    crops = []
    for panel in panels:
        pixels = (srgb8(panel[..., y : y + CROP_PX, x : x + CROP_PX])[0].permute(1, 2, 0).numpy() * 255).round()
        crops.append(np.kron(pixels.astype(np.uint8), np.ones((2, 2, 1), np.uint8)))
    gap = np.full((crops[0].shape[0], GAP_PX, 3), 255, np.uint8)
    sheet = np.concatenate([crops[0], gap, crops[1], gap, crops[2]], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path, quality=88)
    print(f"picture: {path} ({path.stat().st_size // 1024} KB), crop at x {x} y {y}, {CROP_PX} px", file=sys.stderr)


def table(title: str, means: dict[tuple[str, str, str], float]) -> str:
    """A markdown table: a row per refocus way, PSNR and SSIM in both regions."""
    head = "| " + title + " | " + " | ".join(f"{r} {m}" for r in REGIONS for m in METRICS) + " |"
    lines = [head, "|---" * (1 + len(REGIONS) * len(METRICS)) + "|"]
    for row in ROWS:
        if (row, REGIONS[0], METRICS[0]) not in means:
            continue
        cells = []
        for region in REGIONS:
            for metric in METRICS:
                value = means[(row, region, metric)]
                cells.append("n/a" if math.isnan(value) else f"{value:.2f}" if metric == "PSNR" else f"{value:.4f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="a folder of stack folders, or one")
    parser.add_argument("--stacks", nargs="*", help="stack names to measure (default: all found)")
    parser.add_argument("--size", type=int, default=1024, help="working size: the long side, pixels")
    parser.add_argument("--fit-size", type=int, default=512, help="K is fitted on copies at most this long")
    parser.add_argument("--pairs", choices=("ends", "ends+middle"), default="ends+middle")
    parser.add_argument("--model", type=Path, help="learned checkpoint (default: the first under models/)")
    parser.add_argument("--no-learned", action="store_true", help="leave the learned engine out")
    parser.add_argument("--picture", type=Path, help="write the README's crops here (JPEG)")
    args = parser.parse_args()

    torch.set_num_threads(min(2, torch.get_num_threads()))
    stacks = [s for s in find_stacks(args.data) if not args.stacks or s.name in args.stacks]
    if not stacks:
        sys.exit(f"no focal stacks under {args.data}")
    plan = RealPlan(args.size, min(args.fit_size, args.size), None, args.pairs)
    engines, notes = ([], ["learned engine left out"]) if args.no_learned else learned_engines(args.model, "cpu")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    measured = []
    kept: dict[tuple[int, int], tuple[dict[str, torch.Tensor], Regions]] = {}
    for index, files in enumerate(stacks):
        prepared = prepare_stack(files, plan.side_px)
        want_picture = args.picture is not None and index == 0

        def keep(pair: tuple[int, int], images: dict[str, torch.Tensor], regions: Regions, want: bool = want_picture):
            if want:
                kept[pair] = ({k: v for k, v in images.items() if k in (ROWS[0], RESTORE_FITTED)}, regions)

        scores = score_stack(prepared, plan, engines, keep=keep)
        measured.append(scores)
        w, h = scores.size_wh
        print(f"{scores.name}: {w}x{h}, K {scores.blur.k_px:.2f} px on frame {scores.blur.frame}", flush=True)
        for p in scores.pairs:
            record = {
                "stack": scores.name,
                "pair": list(p.pair),
                "shares": [round(s, 4) for s in p.shares],
                "restore_s": [round(s, 2) for s in p.restore_s],
                "fitted_k0_d0": [round(v, 3) for v in p.fitted_blur],
                "scores": {
                    row: {g: [round(v, 4) for v in s] for g, s in regions.items()} for row, regions in p.scores.items()
                },
            }
            print(json.dumps(record), flush=True)
        if want_picture and kept:
            pair = max(kept, key=lambda q: float(kept[q][1].sharpen.float().mean()))
            images, regions = kept[pair]
            print(f"picture pair {pair[0]}->{pair[1]}", file=sys.stderr)
            picture(images, regions, prepared.frames[pair[1]], args.picture)
    all_means = [stack_means(s) for s in measured]
    for scores, means in zip(measured, all_means, strict=True):
        w, h = scores.size_wh
        print(f"\n{scores.name} ({w}x{h}, K {scores.blur.k_px:.1f}, {len(scores.pairs)} pairs)\n")
        print(table("row", means))
    if len(measured) > 1:
        keys = set.intersection(*(set(m) for m in all_means))
        print(f"\nmean of {len(measured)} stacks\n")
        print(table("row", {k: mean_finite([m[k] for m in all_means]) for k in keys}))


if __name__ == "__main__":
    main()
