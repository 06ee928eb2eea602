"""Memory: estimates from headers, one budget, and the tiled pipe that keeps large photos within it while writing
what the whole-image pipe writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from refocus_cli import memory
from refocus_cli.aperture import ApertureShape
from refocus_cli.cli import app
from refocus_cli.errors import SettingsError
from refocus_cli.image import tiled as image_job
from refocus_cli.lens import signed_coc_px
from refocus_cli.memory import GIB, JobSize, estimate_job_bytes, memory_budget_bytes, tile_size_for
from refocus_cli.render.layered import render_layered
from refocus_cli.render.planes import LayeredSettings
from refocus_cli.render.scenes import random_layered_scene
from refocus_cli.render.streamed import plan_layered, render_tiles


def test_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFOCUS_MEMORY_GB", raising=False)
    assert memory_budget_bytes() == 4 * GIB
    monkeypatch.setenv("REFOCUS_MEMORY_GB", "1.5")
    assert memory_budget_bytes() == int(1.5 * GIB)
    for bad in ("0", "-2", "nan", "inf", "lots"):
        monkeypatch.setenv("REFOCUS_MEMORY_GB", bad)
        with pytest.raises(SettingsError, match="REFOCUS_MEMORY_GB must be a positive number"):
            memory_budget_bytes()


def test_estimates_grow_with_size_blur_and_what_is_kept() -> None:
    photo = JobSize(4000, 3000, depth_values=4000 * 3000)
    assert estimate_job_bytes(photo, coc_radius_px=8) < estimate_job_bytes(JobSize(8000, 6000), coc_radius_px=8)
    assert estimate_job_bytes(photo, coc_radius_px=8) < estimate_job_bytes(photo, coc_radius_px=64)
    assert estimate_job_bytes(photo, coc_radius_px=8) < estimate_job_bytes(
        JobSize(4000, 3000, whole_only="learned"), coc_radius_px=8
    )
    tiles = [estimate_job_bytes(photo, tile_px=t, coc_radius_px=8) for t in (256, 1024, 4096)]
    assert tiles == sorted(tiles)
    sixteen = JobSize(4000, 3000, bit_depth=16, out_bit_depth=16, depth_values=4000 * 3000)
    assert estimate_job_bytes(sixteen, tile_px=1024, coc_radius_px=8) > tiles[1]


def test_estimates_hold_the_measured_peaks() -> None:
    """Peak RSS measured with /usr/bin/time -v on a 2-core CPU box (8-bit PNG photo and depth PNG of its size, max
    CoC radius 8 px unless said): the estimates must not be below them (they are what keeps a job in budget)."""
    measured_kb = {  # (width, height, tile or None for the whole pipe, CoC radius): maximum resident set, kB
        (2000, 1500, None, 8): 1_001_632,
        (4000, 3000, None, 8): 1_812_568,
        (2000, 1500, None, 256): 1_779_928,  # half the photo just out of focus, the rest 256 px
        (8000, 6000, 2048, 8): 2_283_372,
        (13000, 13000, 1024, 8): 2_753_888,
    }
    for (width, height, tile_px, radius), peak_kb in measured_kb.items():
        job = JobSize(width, height, depth_values=width * height)
        assert estimate_job_bytes(job, tile_px=tile_px, coc_radius_px=radius) >= peak_kb * 1024
    sixteen_bit = JobSize(13000, 13000, 16, 16, depth_values=13000 * 13000)
    assert estimate_job_bytes(sixteen_bit, tile_px=1024, coc_radius_px=8) >= 3_943_844 * 1024
    no_depth_file = JobSize(13000, 13000)  # two-plane depth on a 1858x1858 copy
    assert estimate_job_bytes(no_depth_file, tile_px=1024, coc_radius_px=8) >= 3_020_692 * 1024


def test_a_13000_px_square_photo_fits_4_gb_in_tiles_and_not_whole() -> None:
    job = JobSize(13000, 13000, depth_values=13000 * 13000)
    assert estimate_job_bytes(job, coc_radius_px=8) > 4 * GIB
    assert tile_size_for(job, 8.0, 4 * GIB) is not None
    assert tile_size_for(job, 256.0, 4 * GIB) is None  # the widest blur needs halos no 4 GB can hold


def test_tiles_read_on_demand_equal_the_whole_render() -> None:
    generator = torch.Generator().manual_seed(5)
    scene = random_layered_scene((150, 170), generator=generator)
    image, disparity = scene.pinhole_image(), scene.disparity_map()
    coc = signed_coc_px(disparity, scene.layers[1].disparity, 14.0)
    aperture = ApertureShape("polygon", blades=7)
    whole = render_layered(image, coc, aperture, tile_px=4096)
    plan = plan_layered(lambda: (coc[..., top : top + 16, :] for top in range(0, 150, 16)), LayeredSettings())
    out = torch.full_like(image, float("nan"))
    reads = []

    def read(rows: slice, cols: slice) -> tuple[torch.Tensor, torch.Tensor]:
        reads.append((rows, cols))
        return image[..., rows, cols], coc[..., rows, cols]

    def write(rows: slice, cols: slice, rendered: torch.Tensor) -> None:
        out[..., rows, cols] = rendered

    render_tiles((150, 170), plan, read, write, aperture=aperture, tile_px=32)
    assert len(reads) > 4 and all((r.stop - r.start) < 150 for r, _ in reads)  # tiles, never the whole image
    assert torch.allclose(out, whole, atol=1e-5)


@pytest.fixture
def forced_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small budget and small tiles: a small photo takes the tiled pipe, in several tiles."""
    monkeypatch.setattr(memory, "RUNTIME_BYTES", 0)
    monkeypatch.setattr(memory, "WHOLE_BYTES_PER_PX", 10**6)  # the whole pipe never fits
    monkeypatch.setattr(memory, "WINDOW_BYTES", 0)
    monkeypatch.setattr(memory, "WINDOW_BYTES_PER_COC_PX", 0)
    monkeypatch.setattr(memory, "AUTO_DEPTH_BYTES", 0)
    monkeypatch.setattr(memory, "MAX_HALO_OVERHEAD", 1000.0)
    monkeypatch.setattr(memory, "TILE_SIZES_PX", (32,))
    monkeypatch.setattr(image_job, "TILE_SIZES_PX", (32,))
    monkeypatch.setattr(image_job, "AUTO_DEPTH_SIDE_PX", 40)
    monkeypatch.setenv("REFOCUS_MEMORY_GB", str(50e6 / GIB))


@pytest.fixture
def scene_files(tmp_path: Path) -> dict[str, Path]:
    """A 90x70 noise photo (8-bit PNG and 16-bit PNG), a disparity PNG and metric depth (.npy)."""
    from refocus_cli.io.images import write_image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    pixels[10:20, 60:70] = 255  # highlights
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    write_image(tmp_path / "photo16.png", torch.from_numpy(pixels / 255.0).permute(2, 0, 1)[None] ** 2.2, bit_depth=16)
    disparity = np.zeros((70, 90), np.uint8)
    disparity[:, :45] = 255
    disparity[20:50, 30:60] = 128
    Image.fromarray(disparity).save(tmp_path / "depth.png")
    np.save(tmp_path / "metres.npy", np.where(disparity > 100, 1.5, 6.0).astype(np.float32))
    return {"photo": tmp_path / "photo.png", "photo16": tmp_path / "photo16.png", "depth": tmp_path / "depth.png"}


def _refocus(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(app, ["image", *args, "--json", "--overwrite"])
    assert result.exit_code == 0, result.stderr
    record: dict[str, object] = json.loads(result.stdout)
    return record


@pytest.mark.parametrize(
    ("photo", "options", "suffix"),
    [
        ("photo", ["--depth", "{depth}", "--blur", "12", "--focus", "10,10"], ".png"),
        ("photo", ["--depth", "{depth}", "--blur", "9", "--highlights", "2", "--blades", "7"], ".png"),
        ("photo", ["--depth", "{metres}", "--fnumber", "1.4", "--focal-length", "50", "--focus-distance", "2"], ".png"),
        ("photo", ["--depth", "{depth}", "--preset", "portrait-85", "--focus", "10,10"], ".png"),
        ("photo", ["--depth", "two-plane", "--blur", "6", "--focus", "20,30"], ".png"),
        ("photo", ["--depth", "{depth}", "--blur", "0"], ".png"),
        ("photo16", ["--depth", "{depth}", "--blur", "8"], ".png"),
        ("photo16", ["--depth", "{depth}", "--blur", "8"], ".tif"),
        ("photo", ["--depth", "{depth}", "--blur", "8"], ".jpg"),
    ],
)
def test_tiled_pipe_writes_what_the_whole_pipe_writes(
    photo: str,
    options: list[str],
    suffix: str,
    scene_files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forced_tiles: None,
) -> None:
    paths = {**{k: str(v) for k, v in scene_files.items()}, "metres": str(tmp_path / "metres.npy")}
    args = [str(scene_files[photo]), *[option.format(**paths) for option in options]]
    tiled = _refocus([*args, "-o", str(tmp_path / f"tiled{suffix}")])
    assert any("rendered in tiles of 32 px" in note for note in tiled["notes"])  # type: ignore[attr-defined]
    monkeypatch.setenv("REFOCUS_MEMORY_GB", "1000")  # now the whole pipe fits
    whole = _refocus([*args, "-o", str(tmp_path / f"whole{suffix}")])
    assert not any("tiles" in note for note in whole["notes"])  # type: ignore[attr-defined]
    for key in ("width", "height", "blur", "camera", "metric_depth", "focus_rule", "depth_source"):
        assert tiled[key] == whole[key], key
    if "two-plane" not in options:
        assert tiled["focus_disparity"] == whole["focus_disparity"]
        assert tiled["max_coc_radius_px"] == pytest.approx(whole["max_coc_radius_px"], abs=1e-3)
    with Image.open(tmp_path / f"tiled{suffix}") as a, Image.open(tmp_path / f"whole{suffix}") as b:
        assert (a.size, a.mode) == (b.size, b.mode)
        difference = np.abs(np.asarray(a).astype(np.int64) - np.asarray(b).astype(np.int64))
    if "two-plane" in options:  # depth found on a reduced copy: the same focus, a softer subject edge
        assert float(difference.mean()) < 0.02 * (65535 if photo == "photo16" else 255)
    else:  # the same render: equal codes but for rounding at a tie
        assert int(difference.max()) <= 1


def test_restore_auto_gives_way_to_tiles_and_restore_on_is_refused(
    scene_files: dict[str, Path], tmp_path: Path, forced_tiles: None
) -> None:
    """A photo too large to restore whole: `--restore auto` renders it in tiles without restore and says so;
    `--restore on` asked for it, so it is refused in one line before any pixel is decoded."""
    args = [str(scene_files["photo"]), "--depth", str(scene_files["depth"]), "--blur", "8"]
    record = _refocus([*args, "--restore", "auto", "-o", str(tmp_path / "auto.png")])
    notes = record["notes"]
    assert any("rendered in tiles of 32 px" in note for note in notes)  # type: ignore[attr-defined]
    assert any("restore auto was skipped" in note for note in notes)  # type: ignore[attr-defined]
    assert record["restore"] is None
    result = CliRunner().invoke(app, ["image", *args, "--restore", "on", "-o", str(tmp_path / "on.png")])
    assert result.exit_code == 1
    assert "use --restore off" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "on.png").exists()
