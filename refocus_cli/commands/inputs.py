"""Turning the command line's inputs and outputs into file paths (no heavy imports)."""

from __future__ import annotations

import glob
from pathlib import Path

from refocus_cli.errors import InputError, OutputError, SettingsError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic"})
READ_ONLY_SUFFIXES = {".heic": ".jpg"}
"""Input formats we do not write -> the extension their outputs get when --format does not say."""
DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".pfm")


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given, globs the shell left alone, and the images inside folders (sorted, not recursive).

    A name that matches nothing stays in the list, so reading it later reports 'no such file' for it.
    """
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(path, "folder holds no images (.jpg, .png, .tif, .webp, .heic)")
            paths.extend(found)
        elif not path.exists() and glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item))
            if not matches:
                raise InputError(item, "no file matches this pattern")
            paths.extend(matches)
        else:
            paths.append(path)
    return list(dict.fromkeys(paths))  # a file named twice is done once


def output_path_for(
    source: Path, *, output: Path | None, out_dir: Path | None, suffix: str, extension: str | None
) -> Path:
    """Where one input's result goes: -o, else out_dir/<stem><suffix><ext>, else beside the input."""
    if output is not None:
        return output
    ext = f".{extension.lstrip('.')}" if extension else READ_ONLY_SUFFIXES.get(source.suffix.lower(), source.suffix)
    name = f"{source.stem}{suffix}{ext}"
    return (out_dir / name) if out_dir is not None else source.with_name(name)


def check_outputs(inputs: list[Path], outputs: list[Path]) -> None:
    """Refuse an output that is one of the inputs, or two inputs writing the same output."""
    resolved_inputs = {p.resolve() for p in inputs}
    seen: dict[Path, Path] = {}
    for source, out in zip(inputs, outputs, strict=True):
        target = out.resolve()
        if target in resolved_inputs:
            raise OutputError(out, "would overwrite an input; choose another output name or --suffix")
        if target in seen:
            raise OutputError(out, f"both {seen[target]} and {source} would be written here")
        seen[target] = source


def depth_for(source: Path, depth: Path | None, many: bool) -> Path | None:
    """The depth file of one input: the file given, or <stem>.<ext> in the folder given (for batches)."""
    if depth is None or not depth.is_dir():
        if many and depth is not None:
            raise SettingsError(
                "with several inputs, --depth must be a folder holding <stem>.png (or .tif, .npy, .pfm)"
            )
        return depth
    for suffix in DEPTH_SUFFIXES:
        candidate = depth / f"{source.stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(source, f"no depth map for it in {depth} (looked for {source.stem}.png, .tif, .npy, .pfm)")
