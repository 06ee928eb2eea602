"""Depth from defocus on random layered scenes: does the measured blur rank like the true defocus?

    python benchmarks/defocus.py --scenes 8 --blur 8 12 20

For every scene and K, the focus is put on a random layer (as in benchmarks/fidelity.py) and the exact reference
renderer makes the photo. Scores are Spearman rank correlations with the true defocus |d - d_focus|:
- edges: `estimate_edge_blur` radius at the pixels it marks confident (confidence > 0);
- dense: `dense_defocus_map` over all pixels.
Pixels within 2 px of a depth discontinuity are left out of both: there the truth (one layer's disparity per
pixel) is ambiguous. Nothing else is left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from refocus_cli.bench.fidelity import scene_case
from refocus_cli.depth.defocus import dense_defocus_map, estimate_edge_blur

EXCLUDE_PX = 2


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """[N] -> [N] float64 ranks 0..N-1, ties sharing their mean rank."""
    ordered, order = torch.sort(values.double())
    positions = torch.arange(values.numel(), dtype=torch.float64)
    _, group, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    sums = torch.zeros(counts.numel(), dtype=torch.float64).index_add_(0, group, positions)
    ranks = torch.empty_like(positions)
    ranks[order] = (sums / counts)[group]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two [N] tensors (Pearson correlation of their average ranks); nan if N < 3."""
    if a.numel() < 3:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))


def near_discontinuity(disparity: torch.Tensor, distance_px: int) -> torch.Tensor:
    """[1,1,H,W] bool: pixels within `distance_px` of a change of disparity between neighbours."""
    padded = F.pad(disparity, (1, 1, 1, 1), mode="replicate")
    h, w = disparity.shape[-2:]
    change = torch.zeros_like(disparity, dtype=torch.bool)
    for dy, dx in ((0, 1), (1, 0), (2, 1), (1, 2)):
        change |= padded[..., dy : dy + h, dx : dx + w] != disparity
    size = 2 * distance_px + 1
    return F.max_pool2d(change.float(), size, 1, distance_px) > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--blur", type=float, nargs="+", default=[8.0, 12.0, 20.0])
    parser.add_argument("--size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for blur in args.blur:
        for index in range(args.scenes):
            case = scene_case(args.seed, index, tuple(args.size), blur)
            photo = case.truth
            disparity = case.scene.disparity_map()
            truth = (disparity - case.focus_disparity).abs()
            keep = ~near_discontinuity(disparity, EXCLUDE_PX)
            start = time.perf_counter()
            edge_blur = estimate_edge_blur(photo)
            dense = dense_defocus_map(edge_blur, photo)
            seconds = time.perf_counter() - start
            edges = keep & (edge_blur.confidence > 0)
            row = {
                "K": blur,
                "scene": index,
                "edge_spearman": spearman(edge_blur.radius_px[edges], truth[edges]),
                "dense_spearman": spearman(dense[keep], truth[keep]),
                "edge_pixels": int(edges.sum()),
                "seconds": seconds,
            }
            rows.append(row)
            if not args.json:
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    keys = ("edge_spearman", "dense_spearman")
    summary = {
        str(blur): {key: statistics.mean(r[key] for r in rows if r["K"] == blur) for key in keys} for blur in args.blur
    }
    overall = {key: statistics.mean(r[key] for r in rows) for key in keys}
    print(json.dumps({"by_blur": summary, "overall": overall}, indent=2))


if __name__ == "__main__":
    main()
