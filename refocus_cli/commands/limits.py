"""The ranges of the numeric options, checked before any work: one table for the checks and the help texts.

Each bound is what a demanding photographer could still want, and no further: past it an option stops meaning
anything optical and only costs time or memory (a million-blade iris, a 10^6 px blur, a million workers). The
renderer caps a CoC radius at 256 px whatever the settings, so wider bounds would only add waiting.

Pure Python (no torch): the command modules read these numbers into their help texts at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from refocus_cli.errors import SettingsError
from refocus_cli.lens import MAX_BLUR_K_PX


@dataclass(frozen=True)
class Range:
    """Range [low, high] of an option, in `unit`; `low_open` / `high_open` exclude that end (a value that must be
    > 0). Infinite ends mean "any finite number"."""

    low: float
    high: float
    unit: str = ""
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        """`value` is finite and inside (NaN and infinities never are)."""
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def text(self) -> str:
        """The range in words, as help texts and error lines say it: "between 3 and 32", "above 0 and below 1".

        >>> Range(0, 1, "m", low_open=True).text(), Range(-math.inf, math.inf).text()
        ('above 0 m and at most 1 m', 'any finite number')
        """
        if math.isinf(self.low) and math.isinf(self.high):
            return "any finite number"
        unit = f" {self.unit}" if self.unit else ""
        if not (self.low_open or self.high_open):
            return f"between {self.low:g} and {self.high:g}{unit}"
        low = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
        high = f"below {self.high:g}" if self.high_open else f"at most {self.high:g}"
        return f"{low}{unit} and {high}{unit}"


# `refocus image`, `generate`, `video`, `stack`: lens, aperture and blur
BLADES = Range(3, 32)
"""Iris blades: real lenses have 5-18; at 32 a polygon is already within a pixel of a disc at the largest blur."""
ASPECT = Range(0.1, 10)
"""Aperture width / height (anamorphic squeeze)."""
ROTATION_DEG = Range(-math.inf, math.inf)
"""Aperture rotation, degrees: any finite angle (turned modulo 360)."""
HIGHLIGHTS = Range(0, 100)
"""Extra highlight gain at full white (0 = off)."""
HIGHLIGHT_THRESHOLD = Range(0, 1, low_open=True, high_open=True)
"""Linear luminance where the highlight boost starts (below 1, or the ramp divides by zero)."""
BLUR_K_PX = Range(0, MAX_BLUR_K_PX, "px")
"""--blur K: CoC radius in pixels per unit disparity; the radius itself is capped at 256 px."""
FOCUS_DEPTH = Range(0, 1)
"""--focus-depth: a disparity."""
FNUMBER = Range(0.5, 256)
"""f-number: f/0.5 is the thin-lens limit in air; large-format lenses stop down to f/128-f/256."""
FOCAL_LENGTH_MM = Range(0.5, 5000, "mm")
"""Focal length, mm: phone ultra-wides (about 1.5 mm) to the longest production telephoto (5200 mm class)."""
SENSOR_WIDTH_MM = Range(0.5, 300, "mm")
"""Sensor width, mm: the smallest phone sensors to 8x10 inch film."""
FOCUS_DISTANCE_M = Range(0.001, 100_000, "m")
"""Focus distance, m: macro to the horizon (beyond it every lens is at infinity)."""
SCENE_DISTANCE_M = Range(0, 100_000, "m", low_open=True)
"""`generate --near/--far`, m."""

# `refocus generate`
STEPS = Range(1, 1000)
GUIDANCE = Range(0, 100)
GENERATE_SIDE_PX = Range(16, 4096, "px")
"""Width and height of a generated image: text-to-image and depth models hold it whole in memory."""

SWEEP_VALUES = Range(1, 64)
"""Images one `generate --sweep` makes (each a full render of the scene)."""
SWEEP_RANGES = {"fnumber": FNUMBER, "focus": FOCUS_DISTANCE_M, "focal-length": FOCAL_LENGTH_MM}
"""--sweep setting -> the range of its values: the option's own."""

# `refocus video`
WINDOW_FRAMES = Range(1, 64)
"""Frames per window of the depth stage (held in memory together)."""
OVERLAP_FRAMES = Range(0, 63)
FOCUS_SMOOTHING_S = Range(0, 2, "s")
"""The focus smoothing looks 2 x this far ahead, holding those frames in memory."""
CRF = Range(0, 63)
SEQUENCE_FPS = Range(0, 1000, low_open=True)

# `refocus stack` (the library checks the same, stack.make.MAX_FRAMES)
STACK_FRAMES = Range(1, 240)
STACK_FPS = Range(0, 240, low_open=True)

# `refocus simulate`
SIMULATE_COUNT = Range(1, 1_000_000)
WORKERS = Range(1, 64)
"""Local worker processes: each holds a renderer (several hundred MB); more than the cores only waits."""

# `refocus train`
EPOCHS = Range(1, 10_000)
BATCH_SIZE = Range(1, 256)
STACK_BATCH = Range(1, 64)
CROP_PX = Range(16, 1024, "px")
CHANNELS = Range(8, 1024)
"""Channels of one UNet level."""
LEVELS = Range(1, 6)
"""UNet levels (--channels values): each halves the crop."""


def check_range(name: str, value: float | None, allowed: Range) -> None:
    """Raise a one-line SettingsError unless `value` (an option's value; None = not given) lies in `allowed`.

    Below the range the line says the lower end only ("3 or more", the wording the library's own checks use),
    above it the whole range.

    >>> check_range("--blades", 7, BLADES)
    >>> check_range("--blades", 1000000, BLADES)
    Traceback (most recent call last):
    ...
    refocus_cli.errors.SettingsError: --blades must be between 3 and 32, got 1000000
    >>> check_range("--blades", 2, BLADES)
    Traceback (most recent call last):
    ...
    refocus_cli.errors.SettingsError: --blades must be 3 or more, got 2
    """
    if value is None or allowed.holds(value):
        return
    unit = f" {allowed.unit}" if allowed.unit else ""
    if math.isfinite(allowed.low) and (value < allowed.low or (allowed.low_open and value == allowed.low)):
        low = f"above {allowed.low:g}{unit}" if allowed.low_open else f"{allowed.low:g}{unit} or more"
        raise SettingsError(f"{name} must be {low}, got {_shown(value)}")
    raise SettingsError(f"{name} must be {allowed.text()}, got {_shown(value)}")


def _shown(value: float) -> str:
    """A number as the user typed it, near enough: 1000000, 0.25, 1e+300, nan."""
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:g}"


def check_ranges(values: dict[str, tuple[float | None, Range]]) -> None:
    """`check_range` for each option name -> (value, range), in order: the first one outside fails."""
    for name, (value, allowed) in values.items():
        check_range(name, value, allowed)


def in_help(allowed: Range) -> str:
    """The range as a help text says it: ", between 3 and 32", ", between 0.5 and 5000 mm" (words, not
    brackets: the help is rich markup, where square brackets are tags)."""
    return f", {allowed.text()}"


def check_lens_options(
    *,
    blades: int | None = None,
    rotation: float | None = None,
    aspect: float | None = None,
    highlights: float | None = None,
    highlight_threshold: float | None = None,
    blur: float | None = None,
    focus_depth: float | None = None,
    fnumber: float | None = None,
    focal_length: float | None = None,
    sensor_width: float | None = None,
    focus_distance: float | None = None,
) -> None:
    """The options `image`, `generate`, `video` and `stack` share (None = not given), each in its range."""
    check_ranges(
        {
            "--blades": (blades, BLADES),
            "--rotation": (rotation, ROTATION_DEG),
            "--aspect": (aspect, ASPECT),
            "--highlights": (highlights, HIGHLIGHTS),
            "--highlight-threshold": (highlight_threshold, HIGHLIGHT_THRESHOLD),
            "--blur": (blur, BLUR_K_PX),
            "--focus-depth": (focus_depth, FOCUS_DEPTH),
            "--fnumber": (fnumber, FNUMBER),
            "--focal-length": (focal_length, FOCAL_LENGTH_MM),
            "--sensor-width": (sensor_width, SENSOR_WIDTH_MM),
            "--focus-distance": (focus_distance, FOCUS_DISTANCE_M),
        }
    )


def check_sweep(setting: str, values: tuple[float, ...]) -> None:
    """`generate --sweep NAME=V1,V2,...`: not too many images, each value in its option's range."""
    check_range(f"--sweep {setting}: the number of values", len(values), SWEEP_VALUES)
    for value in values:
        check_range(f"--sweep {setting}: every value", value, SWEEP_RANGES.get(setting, Range(-math.inf, math.inf)))
