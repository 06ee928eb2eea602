"""`refocus stack --fuse FRAME...` as a library call: read a captured stack, fuse it, write image and depth."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from refocus_cli.errors import InputError, SettingsError, StackInputError
from refocus_cli.fusion.fuse import fuse_stack
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.io.depth_output import save_depth
from refocus_cli.io.images import LoadedImage, output_bit_depth, read_image, write_image
from refocus_cli.io.sequences import natural_key as natural_name_key

SOURCE = "focus-stack"


@dataclass(frozen=True)
class FuseRequest:
    """Frames of one captured focal stack (any order: they are sorted by name, first = nearest focus)."""

    frame_paths: tuple[Path, ...]
    output_path: Path
    save_depth: bool = True
    save_depth_npy: bool = False
    far_first: bool = False
    overwrite: bool = False


@dataclass(frozen=True)
class FuseResult:
    """What was written and how the frames lined up; `to_record()` is the `--json` line."""

    output_path: Path
    depth_paths: tuple[Path, ...]
    frames: tuple[Path, ...]
    width: int
    height: int
    bit_depth: int
    scales: tuple[float, ...]
    methods: tuple[str, ...]
    gains: tuple[tuple[float, ...], ...]
    timings_s: dict[str, float]

    def to_record(self) -> dict[str, Any]:
        return {
            "output": str(self.output_path),
            "depth": [str(p) for p in self.depth_paths],
            "frames": [str(p) for p in self.frames],
            "width": self.width,
            "height": self.height,
            "bit_depth": self.bit_depth,
            "alignment": [
                {"frame": str(p), "scale": round(s, 5), "method": m, "gain": list(g)}
                for p, s, m, g in zip(self.frames, self.scales, self.methods, self.gains, strict=True)
            ],
            "timings_s": {name: round(seconds, 3) for name, seconds in self.timings_s.items()},
        }


def natural_key(path: Path) -> list[int | str]:
    """Sort key that puts IMG_9.jpg before IMG_10.jpg (by name, as `io.sequences.natural_key`).

    >>> sorted([Path("f10.jpg"), Path("f9.jpg")], key=natural_key)
    [PosixPath('f9.jpg'), PosixPath('f10.jpg')]
    """
    return natural_name_key(path.name)


def read_frames(paths: list[Path]) -> list[LoadedImage]:
    """Read every frame, its pixels kept as float16 (half the memory of a stack); any frame that cannot be read
    or differs in size is one line each, all reported together. Frames are decoded on a thread per core.

    Raises:
        StackInputError: every problem, one line each.
    """

    def read_half(path: Path) -> LoadedImage | InputError:
        try:
            frame = read_image(path)
        except InputError as error:
            return error
        return replace(frame, linear=frame.linear.half())

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(read_half, paths))
    loaded: list[LoadedImage] = []
    problems: list[InputError] = []
    for path, frame in zip(paths, results, strict=True):
        if isinstance(frame, InputError):
            problems.append(frame)
            continue
        if loaded and (frame.width, frame.height) != (loaded[0].width, loaded[0].height):
            problems.append(
                InputError(
                    path,
                    f"is {frame.width}x{frame.height} but {loaded[0].path} is {loaded[0].width}x{loaded[0].height};"
                    " the frames of a stack must have one size",
                )
            )
            continue
        loaded.append(frame)
    if problems:
        raise StackInputError(problems)
    return loaded


def fuse_stack_files(request: FuseRequest) -> FuseResult:
    """Fuse the frames and write the sharp image (the frames' bit depth where the format holds it, EXIF and ICC
    of the middle frame) and the depth from focus (16-bit PNG and a colour preview, `.npy` on request).

    Raises:
        RefocusError: fewer than two frames, unreadable frames, frames of different sizes, output problems.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    paths = sorted(dict.fromkeys(request.frame_paths), key=natural_key, reverse=request.far_first)
    if len(paths) < 2:
        raise SettingsError(f"--fuse needs at least two frames of a focal stack, got {len(paths)}")
    frames = read_frames(paths)
    reference = frames[len(frames) // 2]
    bit_depth = max(frame.bit_depth for frame in frames)
    linear = [frame.linear for frame in frames]
    size = (reference.width, reference.height)
    metadata = (reference.exif, reference.icc_profile)
    del frames, reference
    timings["read"] = time.perf_counter() - start

    start = time.perf_counter()
    fused = fuse_stack(linear)
    timings["fuse"] = time.perf_counter() - start

    start = time.perf_counter()
    out = request.output_path
    write_image(
        out,
        fused.image,
        bit_depth=output_bit_depth(bit_depth, out),
        exif=metadata[0],
        icc_profile=metadata[1],
        overwrite=request.overwrite,
    )
    depth_paths: list[Path] = []
    if request.save_depth or request.save_depth_npy:
        depth = DepthMap(fused.disparity, None, SOURCE)
        depth_paths = save_depth(depth, out, with_npy=request.save_depth_npy, overwrite=request.overwrite)
    timings["write"] = time.perf_counter() - start
    return FuseResult(
        output_path=out,
        depth_paths=tuple(depth_paths),
        frames=tuple(paths),
        width=size[0],
        height=size[1],
        bit_depth=bit_depth,
        scales=tuple(fused.scales),
        methods=tuple(fused.methods),
        gains=tuple(tuple(g) for g in fused.gains),
        timings_s=timings,
    )
