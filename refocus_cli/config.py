"""TOML configuration: option defaults and named lens presets, merged under the CLI options.

Precedence, lowest first: built-in defaults, the user config (`$REFOCUS_CONFIG`, else
`$XDG_CONFIG_HOME/refocus/config.toml`, else `~/.config/refocus/config.toml`), `--config FILE`, then the
options given on the command line.

    [image]                 # defaults for `refocus image`, by long option name
    blur = 12
    aperture = "polygon"
    blades = 7

    [presets.my-85]         # a lens: any of these keys
    focal_length = 85
    fnumber = 1.4
    sensor_width = 36
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refocus_cli.errors import SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

IMAGE_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "blur": (int, float),
    "depth_kind": (str,),
    "aperture": (str,),
    "blades": (int,),
    "rotation": (int, float),
    "aspect": (int, float),
    "highlights": (int, float),
    "highlight_threshold": (int, float),
    "suffix": (str,),
    "format": (str,),
    "device": (str,),
    "quality": (str,),
    "preset": (str,),
}
"""Keys of the [image] table (option names with '-' as '_') and the TOML types each accepts."""

PRESET_KEYS: dict[str, str] = {
    "fnumber": "f_number",
    "focal_length": "focal_length_mm",
    "sensor_width": "sensor_width_mm",
    "focus_distance": "focus_distance_m",
}
"""Keys of a [presets.NAME] table -> PartialCamera field."""

BUILTIN_PRESETS: dict[str, dict[str, float]] = {
    "portrait-85": {"focal_length": 85.0, "fnumber": 1.4, "sensor_width": 36.0},
    "portrait-50": {"focal_length": 50.0, "fnumber": 1.8, "sensor_width": 36.0},
    "macro-100": {"focal_length": 100.0, "fnumber": 2.8, "sensor_width": 36.0},
    "wide-35": {"focal_length": 35.0, "fnumber": 2.0, "sensor_width": 36.0},
    "tele-135": {"focal_length": 135.0, "fnumber": 2.0, "sensor_width": 36.0},
    "phone": {"focal_length": 6.9, "fnumber": 1.8, "sensor_width": 9.8},
}


@dataclass(frozen=True)
class Config:
    """Merged configuration: [image] defaults and every preset by name."""

    image: dict[str, Any] = field(default_factory=dict)
    presets: dict[str, dict[str, float]] = field(default_factory=lambda: dict(BUILTIN_PRESETS))

    def preset(self, name: str) -> dict[str, float]:
        if name not in self.presets:
            known = ", ".join(sorted(self.presets))
            raise SettingsError(f"unknown preset {name!r} (known: {known})")
        return self.presets[name]


def user_config_path() -> Path:
    """Where the user's config file lives (it need not exist)."""
    if os.environ.get("REFOCUS_CONFIG"):
        return Path(os.environ["REFOCUS_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "refocus" / "config.toml"


def load_config(extra: Path | None = None) -> Config:
    """Built-ins, then the user config if present, then `extra` (which must exist)."""
    config = Config()
    user = user_config_path()
    if user.is_file():
        config = merge(config, read_config_file(user))
    if extra is not None:
        if not extra.is_file():
            raise SettingsError(f"{extra}: config file not found")
        config = merge(config, read_config_file(extra))
    return config


def merge(base: Config, top: Config) -> Config:
    """`top`'s values win; presets are merged by name."""
    return Config(image={**base.image, **top.image}, presets={**base.presets, **top.presets})


def read_config_file(path: Path) -> Config:
    """Parse and validate one TOML file; any problem is a SettingsError naming the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read config ({exc.__class__.__name__})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML ({exc})") from exc
    unknown = set(data) - {"image", "presets"}
    if unknown:
        raise SettingsError(f"{path}: unknown table {sorted(unknown)[0]!r} (expected [image] and [presets.NAME])")
    image = _checked_table(path, "image", data.get("image", {}), IMAGE_OPTION_TYPES)
    presets_table = data.get("presets", {})
    if not isinstance(presets_table, dict):
        raise SettingsError(f"{path}: presets must be a table of [presets.NAME] tables")
    number = (int, float)
    presets = {
        name: {
            k: float(v)
            for k, v in _checked_table(path, f"presets.{name}", table, dict.fromkeys(PRESET_KEYS, number)).items()
        }
        for name, table in presets_table.items()
    }
    return Config(image=image, presets=presets)


def _checked_table(path: Path, name: str, table: Any, types: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: {name} must be a table")
    for key, value in table.items():
        if key not in types:
            raise SettingsError(f"{path}: unknown key {name}.{key} (known: {', '.join(sorted(types))})")
        if isinstance(value, bool) or not isinstance(value, types[key]):
            kind = "a number" if float in types[key] else "a whole number" if int in types[key] else "a string"
            raise SettingsError(f"{path}: {name}.{key} must be {kind}")
    return dict(table)
