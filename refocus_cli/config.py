"""TOML configuration: option defaults and named lens presets, merged under the CLI options.

Precedence, lowest first: built-in defaults, the user config (`$REFOCUS_CONFIG`, else
`$XDG_CONFIG_HOME/refocus/config.toml`, else `~/.config/refocus/config.toml`), `--config FILE`, then the
options given on the command line.

    [image]                 # defaults for `refocus image`, by long option name ('-' written '_')
    blur = 12
    aperture = "polygon"
    blades = 7

    [presets.my-85]         # a lens: any of these keys
    focal_length = 85
    fnumber = 1.4
    sensor_width = 36
    blades = 9

The keys, their types, ranges and built-in values are the fields of `ImageDefaults` and `Preset`: the one table
that both the validation of config files and the command's defaults come from.
"""

from __future__ import annotations

import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.errors import SettingsError
from refocus_cli.io.run_paths import check_readable_file
from refocus_cli.modes import DepthKind, Device, OutputFormat, Quality, Restore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


NON_NEGATIVE = {"min": 0.0}
POSITIVE = {"positive": True}


@dataclass(frozen=True)
class ImageDefaults:
    """Built-in defaults of the `refocus image` options that a config's [image] table may set.

    Each field is a long option name with '-' written '_'; None means "not set" (the command decides).
    """

    blur: float = field(default=8.0, metadata=NON_NEGATIVE)
    preset: str | None = None
    depth_kind: DepthKind = DepthKind.auto
    depth_model: str = DEFAULT_DEPTH_MODEL
    aperture: str | None = None  # disc, or polygon when blades are given
    blades: int | None = None
    rotation: float = 0.0
    aspect: float = 1.0
    highlights: float = field(default=0.0, metadata=NON_NEGATIVE)
    highlight_threshold: float = 0.8
    suffix: str = "_refocus"
    format: OutputFormat | None = None  # the input's own
    quality: Quality = Quality.fast
    restore: Restore = Restore.off
    device: Device = Device.auto


DEFAULT_BLADES = 6
"""Blades of a polygon aperture when no option, preset or config says how many."""

CAMERA_FIELDS: dict[str, str] = {
    "fnumber": "f_number",
    "focal_length": "focal_length_mm",
    "sensor_width": "sensor_width_mm",
    "focus_distance": "focus_distance_m",
}
"""Physical options (and preset keys) -> PartialCamera field."""


@dataclass(frozen=True)
class Preset:
    """A named lens for physical mode: camera settings (mm, m) and, optionally, its iris."""

    fnumber: float | None = field(default=None, metadata=POSITIVE)
    focal_length: float | None = field(default=None, metadata=POSITIVE)
    sensor_width: float | None = field(default=None, metadata=POSITIVE)
    focus_distance: float | None = field(default=None, metadata=POSITIVE)
    aperture: str | None = None
    blades: int | None = None

    def camera_fields(self) -> dict[str, float]:
        """The PartialCamera keyword arguments this preset sets."""
        values = {camera: getattr(self, key) for key, camera in CAMERA_FIELDS.items()}
        return {camera: value for camera, value in values.items() if value is not None}


BUILTIN_PRESETS: dict[str, Preset] = {
    "portrait-85": Preset(fnumber=1.4, focal_length=85.0, sensor_width=36.0),
    "portrait-50": Preset(fnumber=1.8, focal_length=50.0, sensor_width=36.0),
    "macro-100": Preset(fnumber=2.8, focal_length=100.0, sensor_width=36.0),
    "wide-35": Preset(fnumber=2.0, focal_length=35.0, sensor_width=36.0),
    "tele-135": Preset(fnumber=2.0, focal_length=135.0, sensor_width=36.0),
    "phone": Preset(fnumber=1.8, focal_length=6.9, sensor_width=9.8),  # a 26 mm-equivalent phone main camera
}


@dataclass(frozen=True)
class Config:
    """Merged configuration: [image] defaults and every preset by name."""

    image: ImageDefaults = field(default_factory=ImageDefaults)
    presets: Mapping[str, Preset] = field(default_factory=lambda: dict(BUILTIN_PRESETS))

    def preset(self, name: str) -> Preset:
        if name not in self.presets:
            raise SettingsError(f"unknown --preset {name!r} (known: {', '.join(sorted(self.presets))})")
        return self.presets[name]


@dataclass(frozen=True)
class ConfigFile:
    """What one file sets: the [image] keys it names (validated) and its presets."""

    path: Path
    image: Mapping[str, Any]
    presets: Mapping[str, Preset]


def user_config_path() -> Path:
    """Where the user's config file lives (it need not exist)."""
    if os.environ.get("REFOCUS_CONFIG"):
        return Path(os.environ["REFOCUS_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "refocus" / "config.toml"


def load_config(extra: Path | None = None) -> Config:
    """Built-ins, then the user config if present, then `extra` (which must exist)."""
    files = []
    user = user_config_path()
    if user.is_file():
        files.append(read_config_file(user))
    if extra is not None:
        if not extra.exists():
            raise SettingsError(f"{extra}: config file not found")
        files.append(read_config_file(extra))
    config = Config()
    for layer in files:
        config = Config(replace(config.image, **layer.image), {**config.presets, **layer.presets})
    _check_preset_name(config, files)
    return config


def _check_preset_name(config: Config, files: list[ConfigFile]) -> None:
    """An [image] preset must name a preset that some layer defines."""
    name = config.image.preset
    if name is not None and name not in config.presets:
        path = next(layer.path for layer in reversed(files) if "preset" in layer.image)
        raise SettingsError(
            f"{path}: image.preset {name!r} is not a preset (known: {', '.join(sorted(config.presets))})"
        )


def read_config_file(path: Path) -> ConfigFile:
    """Parse and validate one TOML file; any problem is a SettingsError naming the file and the key."""
    data = read_toml(path, "config")
    unknown = set(data) - {"image", "presets"}
    if unknown:
        raise SettingsError(f"{path}: unknown table {sorted(unknown)[0]!r} (expected [image] and [presets.NAME])")
    presets = data.get("presets", {})
    if not isinstance(presets, dict):
        raise SettingsError(f"{path}: presets must be a table of [presets.NAME] tables")
    return ConfigFile(
        path=path,
        image=checked_table(path, "image", data.get("image", {}), ImageDefaults),
        presets={
            name: Preset(**checked_table(path, f"presets.{name}", table, Preset)) for name, table in presets.items()
        },
    )


MAX_TOML_BYTES = 1_000_000


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; an unreadable or invalid file is a SettingsError naming it (`what` says what it
    holds: "config", "the simulation settings"). Anything but a regular file (a FIFO would hang) is refused
    before it is opened, and so is a file over a megabyte (no settings file is that large)."""
    check_readable_file(path)
    if path.stat().st_size > MAX_TOML_BYTES:
        raise SettingsError(f"{path}: {what} file is over {MAX_TOML_BYTES // 1_000_000} MB; is it the right file?")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read {what} ({exc.__class__.__name__})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML ({exc})") from exc


def checked_table(path: Path, name: str, table: Any, schema: type) -> dict[str, Any]:
    """The keys of a TOML table as `schema`'s fields want them, or a SettingsError naming file and key."""
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: {name} must be a table")
    known = {f.name: f for f in fields(schema)}
    hints = typing.get_type_hints(schema)
    values = {}
    for key, value in table.items():
        if key not in known:
            raise SettingsError(f"{path}: unknown key {name}.{key} (known: {', '.join(known)})")
        values[key] = _coerced(f"{path}: {name}.{key}", value, hints[key], known[key].metadata)
    return values


_KIND_NAMES = {float: "a number", int: "a whole number", str: "a string"}


def _coerced(where: str, value: Any, annotation: Any, limits: Mapping[str, Any]) -> Any:
    """`value` as the field's type (float, int, str or an Enum, optionally None), within its limits."""
    kind = next(arg for arg in typing.get_args(annotation) or (annotation,) if arg is not type(None))
    if isinstance(kind, type) and issubclass(kind, Enum):
        choices = [str(member.value) for member in kind]
        if value not in choices:
            raise SettingsError(f"{where} must be one of {', '.join(choices)}")
        return kind(value)
    accepted = (int, float) if kind is float else kind
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise SettingsError(f"{where} must be {_KIND_NAMES[kind]}")
    if kind is float:
        value = float(value)
    if "min" in limits and value < limits["min"]:
        raise SettingsError(f"{where} must be {limits['min']:g} or more, got {value:g}")
    if limits.get("positive") and value <= 0:
        raise SettingsError(f"{where} must be positive, got {value:g}")
    return value
