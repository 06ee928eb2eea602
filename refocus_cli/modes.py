"""The modes a request takes, as enums (each value is also its string, so `Quality.fast == "fast"`), and the one
function that turns a value given as text into its enum or a one-line error naming the option."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from refocus_cli.errors import SettingsError

M = TypeVar("M", bound=Enum)


class Mode(str, Enum):
    """A mode: compares, prints and formats as its value on every Python (`f"{Quality.fast}"` is "fast")."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class DepthKind(Mode):
    auto = "auto"
    depth = "depth"
    disparity = "disparity"


class Device(Mode):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Restore(Mode):
    auto = "auto"
    on = "on"
    off = "off"


class Engine(Mode):
    physics = "physics"
    learned = "learned"


class Quality(Mode):
    fast = "fast"
    fine = "fine"


class OutputFormat(Mode):
    jpg = "jpg"
    png = "png"
    tif = "tif"
    webp = "webp"


class SceneKind(Mode):
    """`refocus simulate`'s procedural scenes: `layered` (textured shapes over a background) or `hard` (5-9
    overlapping layers with thin wires, twigs and text strokes, fine textures and lights behind edges)."""

    layered = "layered"
    hard = "hard"


class StackCapture(Mode):
    """How `refocus simulate` captures a stacking group: `ideal` frames in one pixel grid, or as a `camera` does,
    with focus breathing, sub-pixel drift and exposure flicker."""

    ideal = "ideal"
    camera = "camera"


class DepthSource(Mode):
    """Where depth comes from: `auto` tries a depth file, depth embedded in the photo, the learned model, the
    photo's own defocus and the two-plane approximation in that order; the others force one."""

    auto = "auto"
    file = "file"
    embedded = "embedded"
    model = "model"
    defocus = "defocus"
    two_plane = "two-plane"


def as_mode(kind: type[M], value: object, option: str) -> M:
    """`value` as a member of the enum `kind`, or a SettingsError naming `option` and the choices.

    >>> as_mode(Quality, "fine", "--quality")
    <Quality.fine: 'fine'>
    """
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise SettingsError(f"{option} must be one of {choices}, got {value!r}") from None
