"""What `refocus simulate` samples and how: one frozen dataclass per TOML table (`[scene]`, `[pairs]`,
`[focus]`, `[blur]`, `[aperture]`, `[stack]`, `[split]`, `[render]`), whose defaults are the built-in
distributions. The README's "Training data" section shows them all as a TOML file (a test checks that it
parses to these defaults); a `--config` file changes any of them. The distributions' forms are in
`distributions.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from refocus_cli.aperture import MAX_BLADES
from refocus_cli.config import read_toml
from refocus_cli.errors import SettingsError
from refocus_cli.modes import SceneKind, StackCapture
from refocus_cli.simulate.distributions import (
    Choice,
    Distribution,
    Fixed,
    Integer,
    LogUniform,
    Uniform,
    parse_distribution,
)

APERTURE_SHAPES = ("disc", "polygon")
SCENE_KINDS = tuple(kind.value for kind in SceneKind)
STACK_CAPTURES = tuple(capture.value for capture in StackCapture)
HARD_LAYERS = (5, 9)
"""scene.min_layers and scene.max_layers of hard scenes when the settings leave them unset (the background
counted: `random_hard_scene`'s count; a layered scene's count is of the layers over its background)."""
BLUR_MODES = ("k", "physical")
DEFAULT_K = Uniform(2.0, 24.0)
DEFAULT_FNUMBER = LogUniform(1.4, 16.0)
DEFAULT_FOCAL_LENGTH_MM = LogUniform(24.0, 135.0)
DEFAULT_SENSOR_WIDTH_MM = Choice((36.0, 23.5, 17.3), (1.0, 1.0, 1.0))
DEFAULT_SHAPE = Choice(APERTURE_SHAPES, (0.5, 0.5))
DEFAULT_BLADES = Integer(5, 9)
DEFAULT_ROTATION_DEG = Uniform(0.0, 360.0)
MAX_SCENE_SIDE_PX = 4096
"""Largest side of a simulated scene: every worker holds a scene's layers and renders whole."""


@dataclass(frozen=True)
class SceneSettings:
    size: tuple[int, int] = (512, 512)
    kind: str = SceneKind.layered.value
    min_layers: int = 3
    max_layers: int = 7
    near_m: float = 0.5
    far_m: float = 50.0


@dataclass(frozen=True)
class PairSettings:
    per_scene: int = 4
    all_in_focus_source: float = 0.2


@dataclass(frozen=True)
class FocusSettings:
    quantiles: tuple[float, float] = (0.02, 0.98)


@dataclass(frozen=True)
class BlurSettings:
    mode: str = "k"
    k: Distribution = DEFAULT_K
    max_k: float = 32.0
    fnumber: Distribution = DEFAULT_FNUMBER
    focal_length_mm: Distribution = DEFAULT_FOCAL_LENGTH_MM
    sensor_width_mm: Distribution = DEFAULT_SENSOR_WIDTH_MM


@dataclass(frozen=True)
class ApertureSettings:
    shape: Distribution = field(default=DEFAULT_SHAPE, metadata={"numeric": False})
    blades: Distribution = DEFAULT_BLADES
    rotation_deg: Distribution = DEFAULT_ROTATION_DEG


@dataclass(frozen=True)
class StackSettings:
    frames: int = 5
    softness: float = 0.0
    capture: str = StackCapture.ideal.value


@dataclass(frozen=True)
class SplitSettings:
    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1

    def shares(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


@dataclass(frozen=True)
class RenderSettings:
    max_aperture_samples: int = 512
    bit_depth: int = 16


@dataclass(frozen=True)
class SimulationSettings:
    """Every sampled parameter's distribution and every fixed choice of a simulation run."""

    scene: SceneSettings = field(default_factory=SceneSettings)
    pairs: PairSettings = field(default_factory=PairSettings)
    focus: FocusSettings = field(default_factory=FocusSettings)
    blur: BlurSettings = field(default_factory=BlurSettings)
    aperture: ApertureSettings = field(default_factory=ApertureSettings)
    stack: StackSettings = field(default_factory=StackSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    render: RenderSettings = field(default_factory=RenderSettings)

    def __post_init__(self) -> None:
        _check(self)

    def to_record(self) -> dict[str, Any]:
        """The settings as JSON (the form the TOML file takes): dataset.json's `settings`."""
        return {
            section.name: {
                item.name: _record_value(getattr(getattr(self, section.name), item.name))
                for item in fields(getattr(self, section.name))
            }
            for section in fields(self)
        }


def _record_value(value: Any) -> Any:
    if isinstance(value, Fixed | Uniform | LogUniform | Integer | Choice):
        return value.to_record()
    return list(value) if isinstance(value, tuple) else value


def load_settings(
    path: Path | None, *, scene_kind: str | None = None, stack_capture: str | None = None
) -> SimulationSettings:
    """The defaults, changed by the TOML file at `path` when given, then by the command line's `--scenes` and
    `--stacks` (scene.kind and stack.capture; None keeps the file's).

    Raises:
        SettingsError: unreadable or invalid TOML, an unknown table or key, a value of the wrong kind or out
            of range, naming the file and the key.
    """
    data = {} if path is None else read_toml(path, "the simulation settings")
    for table, key, value in (("scene", "kind", scene_kind), ("stack", "capture", stack_capture)):
        if value is not None and isinstance(data.setdefault(table, {}), dict):
            data[table] = {**data[table], key: value}
    return settings_from_record(data, where="the options" if path is None else str(path))


def settings_from_record(data: dict[str, Any], *, where: str) -> SimulationSettings:
    """Settings from the TOML/JSON form (`to_record`'s output reads back to the same settings)."""
    sections = {section.name: section for section in fields(SimulationSettings)}
    unknown = set(data) - set(sections)
    if unknown:
        raise SettingsError(f"{where}: unknown table [{sorted(unknown)[0]}] (known: {', '.join(sections)})")
    defaults, built = SimulationSettings(), {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise SettingsError(f"{where}: {name} must be a table")
        if name == "scene" and table.get("kind") == SceneKind.hard.value:
            table = {"min_layers": HARD_LAYERS[0], "max_layers": HARD_LAYERS[1], **table}
        built[name] = _section(where, name, table, getattr(defaults, name))
    try:
        return SimulationSettings(**built)
    except SettingsError as error:
        raise SettingsError(f"{where}: {error}") from None


def _section(where: str, name: str, table: dict[str, Any], default: Any) -> Any:
    known = {item.name: item for item in fields(default)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise SettingsError(f"{where}: unknown key {name}.{key} (known: {', '.join(known)})")
        values[key] = _field_value(f"{where}: {name}.{key}", value, getattr(default, key), known[key].metadata)
    return type(default)(**values)


def _field_value(where: str, value: Any, default: Any, metadata: Any) -> Any:
    """`value` in the kind of the field's default: a distribution, a pair of numbers, a number or a string."""
    if isinstance(default, Fixed | Uniform | LogUniform | Integer | Choice):
        return parse_distribution(where, value, numeric=metadata.get("numeric", True))
    if isinstance(default, tuple):
        kind = type(default[0])
        if not isinstance(value, list) or len(value) != 2 or not all(_is_number(v, kind) for v in value):
            raise SettingsError(f"{where} must be a list of two {'whole ' if kind is int else ''}numbers")
        return tuple(kind(v) for v in value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SettingsError(f"{where} must be a string")
        return value
    if not _is_number(value, type(default)):
        raise SettingsError(f"{where} must be {'a whole number' if isinstance(default, int) else 'a number'}")
    return type(default)(value)


def _is_number(value: Any, kind: type) -> bool:
    accepted = (int,) if kind is int else (int, float)
    return isinstance(value, accepted) and not isinstance(value, bool) and math.isfinite(value)


def _check(settings: SimulationSettings) -> None:
    """Ranges and combinations that no run could use."""
    scene, blur = settings.scene, settings.blur
    problems = []
    if min(scene.size) < 16:
        problems.append(f"scene.size must be at least 16 x 16 pixels, got {list(scene.size)}")
    if max(scene.size) > MAX_SCENE_SIDE_PX:
        problems.append(f"scene.size must be at most {MAX_SCENE_SIDE_PX} pixels a side, got {list(scene.size)}")
    if scene.kind not in SCENE_KINDS:
        problems.append(f"scene.kind must be {' or '.join(SCENE_KINDS)}, got {scene.kind!r}")
    if not 1 <= scene.min_layers <= scene.max_layers:
        problems.append("scene.min_layers must be 1 or more and at most scene.max_layers")
    if scene.kind == SceneKind.hard.value and scene.min_layers < 2:
        problems.append("scene.min_layers must be 2 or more for hard scenes (their count includes the background)")
    if not 0 < scene.near_m < scene.far_m:
        problems.append("scene.near_m must be positive and below scene.far_m")
    if settings.pairs.per_scene < 1:
        problems.append("pairs.per_scene must be 1 or more")
    if not 0 <= settings.pairs.all_in_focus_source <= 1:
        problems.append("pairs.all_in_focus_source is a probability, between 0 and 1")
    low, high = settings.focus.quantiles
    if not 0 <= low <= high <= 1:
        problems.append("focus.quantiles must be two quantiles, 0 <= low <= high <= 1")
    if blur.mode not in BLUR_MODES:
        problems.append(f"blur.mode must be k or physical, got {blur.mode!r}")
    if not blur.max_k > 0:
        problems.append("blur.max_k must be positive")
    for name in ("k", "fnumber", "focal_length_mm", "sensor_width_mm"):
        if not _all_positive(getattr(blur, name), allow_zero=name == "k"):
            problems.append(f"blur.{name} must only give {'non-negative' if name == 'k' else 'positive'} values")
    shapes = settings.aperture.shape
    if not all(shape in APERTURE_SHAPES for shape in _values(shapes)):
        problems.append("aperture.shape's values must be disc or polygon")
    if not _all_positive(settings.aperture.blades, allow_zero=False) or any(
        isinstance(v, int | float) and v < 3 for v in _values(settings.aperture.blades)
    ):
        problems.append("aperture.blades must be 3 or more")
    if any(isinstance(v, int | float) and v > MAX_BLADES for v in _values(settings.aperture.blades)):
        problems.append(f"aperture.blades must be at most {MAX_BLADES}")
    if settings.stack.frames < 2:
        problems.append("stack.frames must be 2 or more")
    if settings.stack.softness < 0:
        problems.append("stack.softness must be 0 or more")
    if settings.stack.capture not in STACK_CAPTURES:
        problems.append(f"stack.capture must be {' or '.join(STACK_CAPTURES)}, got {settings.stack.capture!r}")
    shares = settings.split.shares()
    if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
        problems.append("split.train, split.validation and split.test must be non-negative and add up to 1")
    if settings.render.max_aperture_samples < 16:
        problems.append("render.max_aperture_samples must be 16 or more")
    if settings.render.bit_depth not in (8, 16):
        problems.append("render.bit_depth must be 8 or 16")
    if problems:
        raise SettingsError(problems[0])


def _values(distribution: Distribution) -> tuple[Any, ...]:
    """The values a distribution can give, as far as they are listable (bounds for ranges)."""
    if isinstance(distribution, Fixed):
        return (distribution.value,)
    if isinstance(distribution, Choice):
        return distribution.values
    return (distribution.low, distribution.high)


def _all_positive(distribution: Distribution, *, allow_zero: bool) -> bool:
    values = _values(distribution)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return False
    return all(v >= 0 if allow_zero else v > 0 for v in values)
