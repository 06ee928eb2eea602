"""Shared fixtures: no user config leaks into tests, tiny photos with depth maps made on the spot, and a local
Ray head for the tests of Ray runs."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A local Ray head with 2 CPUs, started once for the tests that use it (and stopped after)."""
    pytest.importorskip("ray")
    from socket import socket

    with socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    command = ["ray", "start", "--head", "--block", "--num-cpus", "2", "--port", str(port), "--include-dashboard",
               "false", "--disable-usage-stats", "--temp-dir", temp]  # fmt: skip
    # No token auth: the tests' clients run with their own empty HOME, where no token of ~/.ray is found
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and head.poll() is None:  # until the head's GCS listens
            with socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


@pytest.fixture(scope="session")
def chromium() -> str:
    """A headless-capable Chromium on PATH (tests/browser.py drives it), or the test skipped."""
    from browser import chromium_or_skip  # tests/browser.py

    return chromium_or_skip()
