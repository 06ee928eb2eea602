"""TOML config: defaults and presets merged under the CLI options, bad files answered in one line."""

from __future__ import annotations

import enum
import json
import typing
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.config import BUILTIN_PRESETS, ImageDefaults, Preset, load_config, read_config_file, user_config_path
from refocus_cli.errors import SettingsError

runner = CliRunner()


def _record(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_user_config_location_follows_the_environment(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert user_config_path() == isolated_home / ".config" / "refocus" / "config.toml"
    monkeypatch.setenv("REFOCUS_CONFIG", str(isolated_home / "elsewhere.toml"))
    assert user_config_path() == isolated_home / "elsewhere.toml"


def test_precedence_builtin_user_file_cli(
    isolated_home: Path, tmp_path: Path, photo_with_depth: tuple[Path, Path]
) -> None:
    photo, depth = photo_with_depth
    base = ["image", str(photo), "--depth", str(depth), "--overwrite", "-o", str(tmp_path / "o.png")]
    assert _record(*base)["blur"] == 8.0  # built-in default
    user = isolated_home / ".config" / "refocus" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[image]\nblur = 5\n")
    assert _record(*base)["blur"] == 5.0  # user config
    extra = tmp_path / "extra.toml"
    extra.write_text("[image]\nblur = 3.5\n")
    assert _record(*base, "--config", str(extra))["blur"] == 3.5  # --config file
    assert _record(*base, "--config", str(extra), "--blur", "2")["blur"] == 2.0  # the option itself


def test_presets_from_config_and_builtins(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[presets.cine-50]\nfocal_length = 50\nfnumber = 1.2\n")
    config = load_config(path)
    assert config.preset("cine-50") == Preset(focal_length=50.0, fnumber=1.2)
    assert config.preset("portrait-85") == BUILTIN_PRESETS["portrait-85"] == Preset(1.4, 85.0, 36.0)
    assert BUILTIN_PRESETS["phone"] == Preset(fnumber=1.8, focal_length=6.9, sensor_width=9.8)
    with pytest.raises(SettingsError, match=r"unknown --preset 'x'.*portrait-85"):
        config.preset("x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[image\n", "invalid TOML"),
        ("[image]\nblur = 'big'\n", "image.blur must be a number"),
        ("[image]\nblur = true\n", "image.blur must be a number"),
        ("[image]\nblur = -1\n", "image.blur must be 0 or more, got -1"),
        ("[image]\nsuffix = 3\n", "image.suffix must be a string"),
        ("[image]\ndevice = 'tpu'\n", "image.device must be one of auto, cpu, cuda"),
        ("[image]\nformat = 'bmp'\n", "image.format must be one of jpg, png, tif, webp"),
        ("image = 3\n", "image must be a table"),
        ("presets = 3\n", "presets must be a table"),
        ("[presets.x]\nfnumber = 0\n", "presets.x.fnumber must be positive, got 0"),
        ("[presets.x]\nblades = 'nine'\n", "presets.x.blades must be a whole number"),
        ("[image]\nblades = 6.5\n", "image.blades must be a whole number"),
        ("[image]\ncolour = 1\n", "unknown key image.colour"),
        ("[video]\nfps = 3\n", "unknown table 'video'"),
        ("[presets.x]\nfocal_length = 'long'\n", "presets.x.focal_length must be a number"),
        ("[presets.x]\niso = 100\n", "unknown key presets.x.iso"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message) as raised:
        read_config_file(path)
    assert str(path) in str(raised.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        load_config(tmp_path / "none.toml")


def test_unknown_preset_named_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[image]\npreset = 'nope'\n")
    with pytest.raises(SettingsError, match=r"c.toml: image.preset 'nope' is not a preset \(known: macro-100"):
        load_config(path)
    path.write_text("[image]\npreset = 'mine'\n[presets.mine]\nfocal_length = 40\n")
    assert load_config(path).image.preset == "mine"


def _image_command_options() -> dict[str, typing.Any]:
    command = typer.main.get_command(app).commands["image"]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def test_config_keys_are_the_image_options() -> None:
    """The [image] table is derived from ImageDefaults: each key is an option, with the option's choices."""
    options = _image_command_options()
    hints = typing.get_type_hints(ImageDefaults)
    for field in fields(ImageDefaults):
        assert field.name in options, f"[image] {field.name} is not an option of refocus image"
        kind = next(a for a in typing.get_args(hints[field.name]) or (hints[field.name],) if a is not type(None))
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            assert options[field.name].type_descriptor.annotation is kind  # the same choices
    assert {f.name for f in fields(Preset)} <= set(options)


def test_brief_example_config_sets_the_defaults(isolated_home: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    user = isolated_home / ".config" / "refocus" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(
        '[image]\nblur = 12\naperture = "polygon"\nblades = 7\nsuffix = "_bokeh"\nhighlights = 0.5\ndevice = "cpu"\n'
    )
    record = _record("image", str(photo), "--depth", str(depth))
    assert record["blur"] == 12.0 and record["device"] == "cpu" and record["highlights"]["boost"] == 0.5
    assert record["aperture"]["kind"] == "polygon" and record["aperture"]["blades"] == 7
    assert Path(record["output"]).name == "photo_bokeh.png"
    record = _record("image", str(photo), "--depth", str(depth), "--aperture", "disc", "--suffix", "_d")
    assert record["aperture"]["kind"] == "disc"  # the option beats the config


def test_blades_option_implies_polygon_over_a_config_disc(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    config = tmp_path / "c.toml"
    config.write_text('[image]\naperture = "disc"\n')
    record = _record("image", str(photo), "--depth", str(depth), "--config", str(config), "--blades", "5")
    assert record["aperture"]["kind"] == "polygon" and record["aperture"]["blades"] == 5


def test_preset_from_config_sets_camera_and_iris(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, _ = photo_with_depth
    metres = np.full((32, 48), 5.0, np.float32)
    metres[:, :24] = 1.5
    np.save(tmp_path / "m.npy", metres)
    config = tmp_path / "c.toml"
    config.write_text("[presets.cine]\nfocal_length = 50\nfnumber = 1.2\nblades = 9\n")
    base = ["image", str(photo), "--depth", str(tmp_path / "m.npy"), "--focus", "5,5", "--config", str(config)]
    record = _record(*base, "--preset", "cine")
    assert record["blur"] is None and record["camera"]["f_number"] == 1.2
    assert record["camera"]["focal_length_mm"] == 50.0 and record["camera"]["sensor_width_mm"] == 36.0
    assert record["aperture"]["kind"] == "polygon" and record["aperture"]["blades"] == 9
    record = _record(*base, "--preset", "cine", "--fnumber", "4", "--overwrite")  # an option beats the preset
    assert record["camera"]["f_number"] == 4.0 and record["camera"]["focal_length_mm"] == 50.0
