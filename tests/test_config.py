"""TOML config: defaults and presets merged under the CLI options, bad files answered in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.config import BUILTIN_PRESETS, load_config, read_config_file, user_config_path
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
    assert config.preset("cine-50") == {"focal_length": 50.0, "fnumber": 1.2}
    assert config.preset("portrait-85") == BUILTIN_PRESETS["portrait-85"]
    with pytest.raises(SettingsError, match=r"unknown preset 'x'.*portrait-85"):
        config.preset("x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[image\n", "invalid TOML"),
        ("[image]\nblur = 'big'\n", "image.blur must be a number"),
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
