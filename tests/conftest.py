"""Shared fixtures: no user config leaks into tests, and tiny photos with depth maps made on the spot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every config location at an empty temporary folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("REFOCUS_CONFIG", raising=False)
    monkeypatch.delenv("REFOCUS_DEBUG", raising=False)
    # Never the network: models come only from folders the tests make, or from an empty cache.
    monkeypatch.setenv("HF_HOME", str(home / "huggingface"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from refocus_cli.depth import choose

    monkeypatch.setattr(choose, "_UNAVAILABLE_MODELS", {})
    return home


@pytest.fixture
def photo_with_depth(tmp_path: Path) -> tuple[Path, Path]:
    """A 48x32 noise photo (PNG) and a disparity map: left half near, right half far."""
    rng = np.random.default_rng(0)
    photo, depth = tmp_path / "photo.png", tmp_path / "depth.png"
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(photo)
    disparity = np.zeros((32, 48), np.uint8)
    disparity[:, :24] = 255
    Image.fromarray(disparity).save(depth)
    return photo, depth
