"""Restore (all-in-focus estimation) before refocusing a photo that already has defocus blur.

    python benchmarks/restore.py --scenes 8 --blur 12 20 30
    python benchmarks/restore.py --scenes-kind hard --scenes 4 --blur 12 24 --size 128 192 --samples 256

`--scenes-kind hard` takes the harder scenes of `render.hard_scenes` (5-9 overlapping layers, thin structures,
fine textures, lights behind edges). The "HQS oracle" columns restore with the half-quadratic-splitting
deconvolution under trial (`restore.hqs_layers`) and the true blur.

For every random layered scene and K, the photo is the exact thin-lens image focused on layer A; it is
refocused to layer B with the same K by the fast layered renderer, from either the photo itself (restore off)
or the restored all-in-focus estimate (restore on), and scored (PSNR on sRGB) against the exact image focused
on B.  Two cases:

* (a) B is a layer the photo blurred by |K (d_B - d_A)| >= 8 px: restore should bring it back;
* (b) B = A: the photo's sharp layer stays sharp, and restore must not make things worse.

The pair (A, B) is drawn at random among the pairs that qualify for (a); (b) uses the same A.  The fit of
the photo's own blur (K0, d0) is estimated from the photo and the true depth ("on"); "oracle" uses the true
K and d_A for reference.  `--cache DIR` keeps the exact renders between runs (they dominate the time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from refocus_cli.bench.restore_gain import MIN_BLUR_PX, pick_pair, reference_with_own_seed, refocus_psnr
from refocus_cli.render.hard_scenes import random_hard_scene
from refocus_cli.render.scenes import LayeredScene, random_layered_scene
from refocus_cli.restore import PhotoDefocus, deconvolve_layers_hqs, restore_all_in_focus


def cached_reference(
    scene: LayeredScene,
    focus: float,
    blur: float,
    generator: torch.Generator,
    path: Path | None,
    samples: int | None = None,
) -> torch.Tensor:
    """render_reference, kept in `path` when given (the generator is advanced the same either way)."""
    if path is not None and path.exists():
        torch.randint(0, 2**31 - 1, (1,), generator=generator)  # the draw reference_with_own_seed makes
        return torch.load(path)
    image = reference_with_own_seed(scene, focus, blur, generator, samples)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(image, path)
    return image


def run_scene(args: argparse.Namespace, blur: float, index: int) -> dict[str, float | int] | None:
    generator = torch.Generator().manual_seed(args.seed * 1000 + index)
    make_scene = random_hard_scene if args.scenes_kind == "hard" else random_layered_scene
    scene = make_scene(tuple(args.size), generator=generator)
    pair = pick_pair(scene, blur, generator)
    if pair is None:
        return None
    d_a, d_b = scene.layers[pair[0]].disparity, scene.layers[pair[1]].disparity
    cache = (
        Path(args.cache)
        / f"{args.scenes_kind}{args.size[0]}x{args.size[1]}_s{args.seed}_i{index}_k{blur:g}_n{args.samples}"
        if args.cache
        else None
    )
    photo = cached_reference(scene, d_a, blur, generator, cache / "photo.pt" if cache else None, args.samples)
    truth_b = cached_reference(scene, d_b, blur, generator, cache / "truth_b.pt" if cache else None, args.samples)
    disparity = scene.disparity_map()
    start = time.perf_counter()
    estimated = restore_all_in_focus(photo, disparity)
    seconds = time.perf_counter() - start
    oracle = restore_all_in_focus(photo, disparity, photo_defocus=PhotoDefocus.known(blur, d_a))
    start = time.perf_counter()
    hqs = deconvolve_layers_hqs(photo, disparity, blur, d_a)
    hqs_seconds = time.perf_counter() - start
    row: dict[str, float | int] = {
        "K": blur,
        "scene": index,
        "blur_b_px": abs(blur * (d_b - d_a)),
        "fit_k0": estimated.photo_defocus.k0_px,
        "fit_d0": estimated.photo_defocus.focus_disparity,
        "true_d0": d_a,
        "restore_s": seconds,
        "hqs_s": hqs_seconds,
        "megapixels": photo.shape[-2] * photo.shape[-1] / 1e6,
    }
    for case, focus, truth in (("a", d_b, truth_b), ("b", d_a, photo)):
        row[f"{case}_off"] = refocus_psnr(photo, disparity, focus, blur, truth)
        row[f"{case}_on"] = refocus_psnr(estimated.all_in_focus, disparity, focus, blur, truth)
        row[f"{case}_oracle"] = refocus_psnr(oracle.all_in_focus, disparity, focus, blur, truth)
        row[f"{case}_hqs"] = refocus_psnr(hqs.image, disparity, focus, blur, truth)
    return row


def table(rows: list[dict[str, float | int]], blurs: list[float]) -> str:
    keys = ["a_off", "a_on", "a_oracle", "a_hqs", "b_off", "b_on", "b_oracle", "b_hqs"]
    lines = [
        "| K | scenes | fit K0 (mean) | (a) off | (a) on | (a) gain | (a) oracle | (a) HQS oracle | (b) off | (b) on "
        "| (b) gain | (b) oracle | (b) HQS oracle | s/MP fit+CG | s/MP HQS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups = [(f"{b:g}", [r for r in rows if r["K"] == b]) for b in blurs] + [("mean", rows)]
    for name, picked in groups:
        if not picked:
            continue
        m = {k: statistics.mean(float(r[k]) for r in picked) for k in [*keys, "fit_k0"]}
        per_mp = {
            k: statistics.median(float(r[k]) / float(r["megapixels"]) for r in picked) for k in ("restore_s", "hqs_s")
        }
        lines.append(
            f"| {name} | {len(picked)} | {m['fit_k0']:.1f} | {m['a_off']:.2f} | {m['a_on']:.2f} | "
            f"{m['a_on'] - m['a_off']:+.2f} | {m['a_oracle']:.2f} | {m['a_hqs']:.2f} | {m['b_off']:.2f} | "
            f"{m['b_on']:.2f} | {m['b_on'] - m['b_off']:+.2f} | {m['b_oracle']:.2f} | {m['b_hqs']:.2f} | "
            f"{per_mp['restore_s']:.1f} | {per_mp['hqs_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--blur", type=float, nargs="+", default=[12.0, 20.0, 30.0])
    parser.add_argument("--size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=str, default=None, help="folder that keeps the exact renders")
    parser.add_argument(
        "--scenes-kind",
        choices=("layered", "hard"),
        default="layered",
        help="random_layered_scene or random_hard_scene",
    )
    parser.add_argument(
        "--samples", type=int, default=None, help="aperture samples of the exact renders (default: enough)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for blur in args.blur:
        for index in range(args.scenes):
            row = run_scene(args, blur, index)
            if row is None:
                print(f"K={blur:g} scene={index}: no pair of layers {MIN_BLUR_PX:g} px apart in blur", flush=True)
                continue
            rows.append(row)
            if not args.json:
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows, args.blur))


if __name__ == "__main__":
    main()
