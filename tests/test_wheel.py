"""`pip install .` gives a working tool: the wheel carries the bundled model and the completion scripts, and an
installed wheel (no checkout anywhere) finds them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from refocus_cli.completions import SCRIPTS
from refocus_cli.shipped import PROJECT_ROOT, SHIPPED_FOLDERS

BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "refocus_cli", *SHIPPED_FOLDERS)
"""What the build reads, copied away from the checkout so that its build/ and egg-info never land there."""
MODEL = PROJECT_ROOT / "models" / "refocus-small"

pytestmark = pytest.mark.slow  # builds a wheel: a few seconds


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this checkout (the installed setuptools, no network)."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in BUILD_INPUTS:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(out)]
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("refocus_cli-*.whl")
    return built


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_wheel_carries_the_bundled_model_and_the_completion_scripts(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for path in MODEL.rglob("*"):
            if path.is_file():
                name = f"refocus_cli/_data/models/refocus-small/{path.relative_to(MODEL).as_posix()}"
                assert name in names, f"{name} missing from the wheel"
                assert _digest(archive.read(name)) == _digest(path.read_bytes()), name
        for script in SCRIPTS.values():
            name = f"refocus_cli/_data/completions/{script}"
            assert archive.read(name) == (PROJECT_ROOT / "completions" / script).read_bytes()
        assert "refocus_cli/registry/registry.toml" in names
    expected = {"model_index.json", "model/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"}
    assert expected <= {p.relative_to(MODEL).as_posix() for p in MODEL.rglob("*")}  # what the loader needs


def test_an_installed_wheel_finds_its_model_and_installs_completions(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # what pip install puts in site-packages
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("XDG_DATA_HOME", None)

    def refocus(*args: str) -> str:
        command = [sys.executable, "-m", "refocus_cli.cli", *args]
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=elsewhere, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    records = {record["name"]: record for record in map(json.loads, refocus("models", "--json").splitlines())}
    assert records["refocus-small"]["present"] == "bundled"
    assert records["refocus-small"]["path"] == str(site / "refocus_cli" / "_data" / "models" / "refocus-small")
    assert "bundled: models/refocus-small" in refocus("models")
    refocus("completions", "install", "bash")
    installed = home / ".local/share/bash-completion/completions/refocus"
    assert installed.read_bytes() == (PROJECT_ROOT / "completions" / SCRIPTS["bash"]).read_bytes()
