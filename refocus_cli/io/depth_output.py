"""Writing the depth a render used: a 16-bit disparity PNG, a colour preview, and a .npy on request.

The paths are known without heavy imports (the commands check them before any work); numpy, Pillow and OpenCV
load only to write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.io.atomic import atomic_output

if TYPE_CHECKING:
    from refocus_cli.io.depth_files import DepthMap


def depth_paths(output: Path, *, with_npy: bool) -> list[Path]:
    """Where the depth of `output` goes: <stem>-depth.png, <stem>-depth-preview.png (and <stem>-depth.npy)."""
    stem = output.with_suffix("")
    paths = [Path(f"{stem}-depth.png"), Path(f"{stem}-depth-preview.png")]
    return [*paths, Path(f"{stem}-depth.npy")] if with_npy else paths


def save_depth(depth: DepthMap, output: Path, *, with_npy: bool, overwrite: bool) -> list[Path]:
    """Write the disparity (65535 = nearest) as 16-bit PNG, a turbo-coloured preview, and optionally .npy
    (float32 disparity in [0, 1]); each file atomically. Returns the paths written."""
    import cv2
    import numpy as np
    from PIL import Image

    disparity = depth.disparity[0, 0].clamp(0.0, 1.0).numpy()
    paths = depth_paths(output, with_npy=with_npy)
    with atomic_output(paths[0], overwrite=overwrite) as tmp:
        Image.fromarray(np.round(disparity * 65535).astype(np.uint16)).save(tmp, compress_level=1)  # fast; maps are big
    preview = cv2.applyColorMap(np.round(disparity * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    with atomic_output(paths[1], overwrite=overwrite) as tmp:
        Image.fromarray(np.ascontiguousarray(preview)).save(tmp, compress_level=1)
    if with_npy:
        with atomic_output(paths[2], overwrite=overwrite) as tmp, tmp.open("wb") as handle:
            np.save(handle, disparity.astype(np.float32))
    return paths
