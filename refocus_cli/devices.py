"""The device a run computes on, chosen once at the edge: `auto` is CUDA when present, else the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from refocus_cli.errors import SettingsError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else the CPU; asking for CUDA without one is a SettingsError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda asked for, but no CUDA device is available (use --device cpu)")
    if name not in DEVICES:
        raise SettingsError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)
