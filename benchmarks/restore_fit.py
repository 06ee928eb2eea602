"""The fit of a photo's own defocus (K0, d0) that restore depends on, on synthetic and real photos.

    python benchmarks/restore_fit.py --scenes 8 --blur 8 16 24 --cache /tmp/restore-fit-cache

(a) Random layered scenes (`random_layered_scene`, 192x256), the exact render (`render_reference`, at most
    `--samples` aperture points) focused on a random layer A with K, fitted with the true disparity: median
    |K0 - K| / K and |d0 - d_A| per K, as rendered and after JPEG at quality 90, and how many fits say they
    are reliable and how many of those are wrong.
(b) Real stacks in ../shared/data (keyboard-stack, pcb-stack), 640 px wide, depth and aligned frames from
    `fuse_stack`: for each frame i the fitted d0 against the frame's own focus d_i = 1 - i / (n - 1) (the depth
    from focus's scale), K0 against the stack's K (the K whose render of the fused image to an end frame's
    focus best matches that frame, mean of both ends), `reliable`, and "RELIABLE-WRONG" where a reliable fit
    is off by > 0.2 in d0 or > 50 % in K0; the previous (spectral-only) fit side by side, with median times;
    skipped when the data is absent.
(c) scikit-image's astronaut (sharp) with a vertical disparity ramp: `needs_restore` must be False; the same
    photo blurred by the layered renderer with K = 8 and 16 focused at 0.8: True.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from refocus_cli.io.images import jpeg_round_trip
from refocus_cli.restore import estimate_photo_defocus, needs_restore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def synthetic(args: argparse.Namespace) -> None:
    from refocus_cli.render.reference import render_reference
    from refocus_cli.render.scenes import random_layered_scene

    print("(a) synthetic layered scenes: median |K0-K|/K, median |d0-d_A| (n scenes)")
    for blur in args.blur:
        errors: dict[str, list[tuple[float, float, bool]]] = {"exact": [], "jpeg90": []}
        seconds = []
        for index in range(args.scenes):
            generator = torch.Generator().manual_seed(7000 + index)
            scene = random_layered_scene((192, 256), generator=generator)
            layer = int(torch.randint(0, len(scene.layers), (1,), generator=generator))
            d_a = scene.layers[layer].disparity
            path = Path(args.cache) / f"k{blur:g}_i{index}.pt" if args.cache else None
            if path is not None and path.exists():
                photo = torch.load(path)["photo"]
            else:
                spread = max(abs(other.disparity - d_a) for other in scene.layers)
                samples = min(args.samples, max(64, int(3.14 * (2 * blur * spread) ** 2)))
                photo = render_reference(
                    scene, d_a, blur, samples=samples, generator=torch.Generator().manual_seed(index)
                )
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    torch.save({"photo": photo}, path)
            disparity = scene.disparity_map()
            for kind, image in (("exact", photo), ("jpeg90", jpeg_round_trip(photo))):
                start = time.perf_counter()
                fit = estimate_photo_defocus(image, disparity)
                seconds.append(time.perf_counter() - start)
                errors[kind].append((abs(fit.k0_px - blur) / blur, abs(fit.focus_disparity - d_a), fit.reliable))
        for kind, rows in errors.items():
            k_error = statistics.median(row[0] for row in rows)
            d_error = statistics.median(row[1] for row in rows)
            reliable = [row for row in rows if row[2]]
            wrong = sum(row[0] > 0.5 or row[1] > 0.2 for row in reliable)
            print(
                f"  K {blur:g} {kind:7s} |K0-K|/K {k_error:.3f}  |d0-dA| {d_error:.3f}  (n {len(rows)}); "
                f"reliable {len(reliable)}, of which wrong (K0 > 50 % or d0 > 0.2 off) {wrong}"
            )
        print(f"  K {blur:g} fit time median {statistics.median(seconds):.2f} s (192x256)")


def stack_k(aif: torch.Tensor, disparity: torch.Tensor, frame: torch.Tensor, focus: float) -> float:
    """K (px per unit disparity) whose render of the all-in-focus image to `focus` best matches the frame (sRGB
    PSNR, an 8 px border left out)."""
    from refocus_cli.colour import linear_to_srgb
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.metrics import psnr
    from refocus_cli.render.layered import render_layered

    def srgb(x: torch.Tensor) -> torch.Tensor:
        return linear_to_srgb(x.clamp(0, 1))[..., 8:-8, 8:-8]

    scores = {
        k: psnr(srgb(render_layered(aif, signed_coc_px(disparity, focus, k))), srgb(frame))
        for k in (2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 28.0, 32.0)
    }
    return max(scores, key=lambda k: scores[k])


def real(args: argparse.Namespace) -> None:
    from refocus_cli.fusion.fuse import fuse_stack
    from refocus_cli.io.images import read_image
    from refocus_cli.restore.fit import fit_blur_scores
    from refocus_cli.restore.photo_blur import spectral_measurements, working_copies

    for name, pattern in (("keyboard-stack", "frame_*.jpg"), ("pcb-stack", "pcb_*.jpg")):
        paths = sorted((DATA / name).glob(pattern))
        if not paths:
            print(f"(b) {name}: skipped, no data at {DATA / name}")
            continue
        frames = []
        for path in paths:
            linear = read_image(path).linear
            frames.append(F.interpolate(linear.float(), scale_factor=args.width / linear.shape[-1], mode="area"))
        fused = fuse_stack(frames)  # frames become aligned copies on the middle frame's grid
        frames = [frame.float() for frame in frames]
        n, aif, depth = len(frames), fused.image.float(), fused.disparity.float()
        ends = {0: stack_k(aif, depth, frames[0], 1.0), n - 1: stack_k(aif, depth, frames[-1], 0.0)}
        k_stack = statistics.mean(ends.values())
        print(f"(b) {name}: {n} frames {tuple(frames[0].shape[-2:])}, frame i's focus d_i = 1 - i/(n-1)")
        print(f"  K_stack {k_stack:.1f} px (best-PSNR render of the fused image to end frames {ends})")
        old_seconds, new_seconds, bad = [], [], 0
        for index, frame in enumerate(frames):
            own = 1.0 - index / (n - 1)
            start = time.perf_counter()
            old = fit_blur_scores(
                spectral_measurements(working_copies(frame, depth))
            )  # the previous fit (spectral only)
            old_seconds.append(time.perf_counter() - start)
            start = time.perf_counter()
            fit = estimate_photo_defocus(frame, depth)
            new_seconds.append(time.perf_counter() - start)
            rows = []
            for label, each in (("prev", old), ("new", fit)):
                wrong = abs(each.focus_disparity - own) > 0.2 or abs(each.k0_px / k_stack - 1) > 0.5
                flag = " RELIABLE-WRONG" if each.reliable and wrong else ""
                bad += label == "new" and bool(flag)
                rows.append(
                    f"{label} d0 {each.focus_disparity:.3f} |d0-d_i| {abs(each.focus_disparity - own):.3f} "
                    f"K0/K {each.k0_px / k_stack:4.2f} reliable {each.reliable!s:5}{flag}"
                )
            print(f"  frame {index} d_i {own:.3f}: " + " | ".join(rows) + f" | restore {needs_restore(fit, depth)}")
        megapixels = frames[0].shape[-1] * frames[0].shape[-2] / 1e6
        previous, new = (statistics.median(seconds) / megapixels for seconds in (old_seconds, new_seconds))
        print(f"  reliable-wrong fits (new): {bad}; median s/MP: previous {previous:.2f}, new {new:.2f}")


def astronaut() -> None:
    import skimage.data

    from refocus_cli.colour import srgb_to_linear
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.render.layered import render_layered

    photo = srgb_to_linear(torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float() / 255)
    h, w = photo.shape[-2:]
    ramp = torch.linspace(0, 1, h).view(1, 1, h, 1).expand(1, 1, h, w).contiguous()
    print("(c) astronaut with a vertical disparity ramp")
    cases = [("sharp", photo)] + [
        (f"K {blur:g} at 0.8", render_layered(photo, signed_coc_px(ramp, 0.8, blur))) for blur in (8.0, 16.0)
    ]
    for name, image in cases:
        fit = estimate_photo_defocus(image, ramp)
        print(
            f"  {name:10s} needs_restore {needs_restore(fit, ramp)}  K0 {fit.k0_px:.2f} d0 {fit.focus_disparity:.3f} "
            f"share {fit.blurred_share:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--blur", type=float, nargs="+", default=[8.0, 16.0, 24.0])
    parser.add_argument("--samples", type=int, default=1000, help="aperture points at most per exact render")
    parser.add_argument("--width", type=int, default=640, help="real frames are downscaled to this width")
    parser.add_argument("--cache", default=None, help="keep the exact renders here between runs")
    parser.add_argument("--sections", nargs="+", default=["synthetic", "real", "astronaut"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    if "synthetic" in args.sections:
        synthetic(args)
    if "real" in args.sections:
        real(args)
    if "astronaut" in args.sections:
        astronaut()


if __name__ == "__main__":
    main()
