"""What `refocus generate` writes, known before any model loads: the images of a sweep, the extra files asked
for, and the one path rule applied to them (no heavy imports)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from refocus_cli.errors import SettingsError
from refocus_cli.io.depth_output import depth_paths
from refocus_cli.io.formats import image_format
from refocus_cli.io.run_paths import RunPaths, check_run_paths, model_reads
from refocus_cli.lens import PartialCamera


class Extras(Protocol):
    """The request's fields that name extra outputs and the other paths a run reads."""

    @property
    def save_all_in_focus(self) -> bool: ...
    @property
    def save_depth(self) -> bool: ...
    @property
    def reads(self) -> tuple[Path, ...]: ...
    @property
    def model(self) -> str | None: ...
    @property
    def depth_model(self) -> str | None: ...
    @property
    def overwrite(self) -> bool: ...


SWEEP_SETTINGS = {"fnumber": "f_number", "focus": "focus_distance_m", "focal-length": "focal_length_mm"}
"""--sweep name -> the PartialCamera field it varies (focus: the focus distance in metres)."""


@dataclass(frozen=True)
class Sweep:
    """One lens setting and the values it takes, one output image each."""

    setting: str
    values: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> Sweep:
        """'fnumber=1.4,2.8,5.6', 'focus=1.5,3,10' (metres) or 'focal-length=35,50,85'.

        >>> Sweep.parse("fnumber=1.4,2.8")
        Sweep(setting='fnumber', values=(1.4, 2.8))
        """
        name, _, listed = text.partition("=")
        name = name.strip().lower()
        if name not in SWEEP_SETTINGS or not listed.strip():
            raise SettingsError(
                f"--sweep {text!r}: expected NAME=V1,V2,... with NAME one of {', '.join(SWEEP_SETTINGS)}"
            )
        try:
            values = tuple(float(v) for v in listed.split(","))
        except ValueError:
            raise SettingsError(f"--sweep {text!r}: the values must be numbers separated by commas") from None
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise SettingsError(f"--sweep {text!r}: every value must be a positive number")
        if len(set(values)) != len(values):
            raise SettingsError(f"--sweep {text!r}: a value is repeated")
        return cls(name, values)

    def lenses(self) -> list[tuple[str, PartialCamera]]:
        """(file-name tag, the camera setting) per value: ('fnumber1.4', PartialCamera(f_number=1.4)), ..."""
        return [
            (f"{self.setting}{value:g}", PartialCamera(**{SWEEP_SETTINGS[self.setting]: value}))
            for value in self.values
        ]


@dataclass(frozen=True)
class PathsAskedFor:
    """The command's options that name outputs and reads, for `check_generate_paths` before the request exists."""

    save_all_in_focus: bool
    save_depth: bool
    reads: tuple[Path, ...]
    model: str | None
    depth_model: str | None
    overwrite: bool


def output_paths(out: Path, sweep: Sweep | None) -> list[tuple[Path, PartialCamera]]:
    """Each image to write and the lens setting it varies (one image without a sweep)."""
    if sweep is None:
        return [(out, PartialCamera())]
    return [(out.with_name(f"{out.stem}-{tag}{out.suffix}"), lens) for tag, lens in sweep.lenses()]


def extra_paths(out: Path, extras: Extras) -> list[Path]:
    """The all-in-focus image and depth files asked for."""
    paths = []
    if extras.save_all_in_focus:
        paths.append(out.with_name(f"{out.stem}-all-in-focus.png"))
    if extras.save_depth:
        paths += [*depth_paths(out, with_npy=False), out.with_name(f"{out.stem}-depth-m.tiff")]
    return paths


def check_generate_paths(out: Path, sweep: Sweep | None, extras: list[Path], request: Extras) -> None:
    """Every image's format, and the one rule for what the run reads and writes, before any model loads."""
    images = output_paths(out, sweep)
    for path, _ in images:
        image_format(path)  # an unknown suffix fails before any work
    writes = RunPaths(writes=(*(p for p, _ in images), *extras))
    check_run_paths(
        RunPaths(reads=request.reads) + model_reads(request.model, request.depth_model) + writes,
        overwrite=request.overwrite,
    )
