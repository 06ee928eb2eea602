"""Camera terms (`--preset`, `--fnumber`, `--focal-length`) on ordinary photos with relative depth: the depth is
placed in metres (`depth.placement`), the assumption said in a note and in `--json`, and rendered with the thin
lens; what cannot be meant is one line before any depth is found."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.depth.placement import (
    MIN_FOCUS_LEVER,
    focus_distance_choice,
    framing_distance_m,
    inverse_depth_per_m,
    placement,
)
from refocus_cli.errors import SettingsError
from refocus_cli.io.camera_exif import camera_exif
from refocus_cli.lens import CameraSettings

WIDTH, HEIGHT = 192, 96
SUBJECT = (slice(0, HEIGHT), slice(0, 96))
"""The near half (disparity 1): the subject the tests focus on."""


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, Path]:
    """A noise photo (PNG, no EXIF) and a relative disparity PNG: left half near (255), right half far (0)."""
    rng = np.random.default_rng(3)
    path, depth = tmp_path / "photo.png", tmp_path / "depth.png"
    Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(path)
    disparity = np.zeros((HEIGHT, WIDTH), np.uint8)
    disparity[:, :96] = 255
    Image.fromarray(disparity).save(depth)
    return path, depth


def refocus(*args: str) -> tuple[int, dict[str, object], str]:
    """`refocus image ARGS --json --overwrite` in-process: (exit code, its JSON record or {}, stderr)."""
    result = CliRunner().invoke(app, ["image", *args, "--json", "--overwrite"])
    record = json.loads(result.stdout) if result.exit_code == 0 else {}
    return result.exit_code, record, result.stderr


@pytest.mark.parametrize(
    ("options", "focus_distance_m"),
    [
        (["--preset", "portrait-85"], 2.125),  # 0.025 m per mm of 35 mm-equivalent focal length
        (["--fnumber", "1.8", "--focal-length", "50"], 1.25),
        (["--fnumber", "1.8", "--focal-length", "50", "--focus-distance", "3"], 3.0),
    ],
)
def test_camera_terms_render_on_relative_depth_and_say_the_assumption(
    photo: tuple[Path, Path], options: list[str], focus_distance_m: float
) -> None:
    path, depth = photo
    out = str(path.with_name("out.png"))
    code, record, err = refocus(str(path), "--depth", str(depth), "--focus", "40,40", *options, "-o", out)
    assert code == 0, err
    placed = record["metric_depth"]
    assert isinstance(placed, dict) and placed["source"] == "assumed" and placed["far_m"] is None
    assert placed["focus_distance_m"] == pytest.approx(focus_distance_m)
    assert record["camera"]["focus_distance_m"] == pytest.approx(focus_distance_m)  # type: ignore[index]
    notes = record["notes"]
    assert isinstance(notes, list) and any("no metric depth: placed the relative depth" in n for n in notes)
    assert record["max_coc_radius_px"] > 0  # type: ignore[operator]


def test_the_note_is_on_the_terminal(photo: tuple[Path, Path], tmp_path: Path) -> None:
    path, depth = photo
    out = tmp_path / "o.png"
    args = ["image", str(path), "--depth", str(depth), "--preset", "portrait-85", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "refocus: note: " in result.stderr and "disparity 0 at infinity" in result.stderr


def test_blur_grows_as_the_fnumber_falls_and_the_focus_stays_sharp(photo: tuple[Path, Path], tmp_path: Path) -> None:
    path, depth = photo
    records = {}
    for fnumber in ("1.8", "8"):
        out = str(tmp_path / f"f{fnumber}.png")
        args = ["--fnumber", fnumber, "--focal-length", "50", "--focus", "40,40", "-o", out]
        code, records[fnumber], err = refocus(str(path), "--depth", str(depth), *args)
        assert code == 0, err
    wide, narrow = records["1.8"]["max_coc_radius_px"], records["8"]["max_coc_radius_px"]
    assert isinstance(wide, float) and isinstance(narrow, float)
    assert wide == pytest.approx(narrow * 8 / 1.8, rel=1e-3)  # thin lens: the CoC is proportional to f / N
    # Thin lens at S = 1.25 m, background at infinity: c/2 = A f / (S - f) / 2, 192 px over 36 mm.
    expected = (50 / 1.8) * 50 / (1250 - 50) / 2 * WIDTH / 36
    assert wide == pytest.approx(expected, rel=1e-3)
    source = np.asarray(Image.open(path), np.float64)
    blurred = np.asarray(Image.open(tmp_path / "f1.8.png"), np.float64)
    margin = math.ceil(wide) + 2
    inside = (slice(0, HEIGHT), slice(0, 96 - margin))  # the subject, away from the edge the background crosses
    assert np.abs(blurred[inside] - source[inside]).max() <= 1.0  # in focus: unchanged but for rounding
    background = (slice(0, HEIGHT), slice(96 + margin, WIDTH))
    assert blurred[background].std() < 0.6 * source[background].std()  # out of focus: the noise is smoothed


def test_exif_subject_distance_is_used_when_present(photo: tuple[Path, Path], tmp_path: Path) -> None:
    path, depth = photo
    jpeg = tmp_path / "camera.jpg"
    exif = camera_exif(CameraSettings(2.0, 50.0, 36.0, 3.5), software="Some Camera 1.0")
    Image.open(path).save(jpeg, quality=95, exif=exif)
    code, record, err = refocus(str(jpeg), "--depth", str(depth), "--fnumber", "1.8", "-o", str(tmp_path / "o.jpg"))
    assert code == 0, err
    placed = record["metric_depth"]
    assert isinstance(placed, dict) and placed["focus_distance_m"] == pytest.approx(3.5)
    assert "EXIF SubjectDistance" in str(placed["why"])
    camera = record["camera"]
    assert isinstance(camera, dict) and camera["focal_length_mm"] == 50.0 and camera["f_number"] == 1.8


def test_metric_depth_files_are_not_placed(photo: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = photo
    metres = np.full((HEIGHT, WIDTH), 6.0, np.float32)
    metres[:, :96] = 1.5
    np.save(tmp_path / "metres.npy", metres)
    args = ["--fnumber", "2", "--focal-length", "50", "--focus", "40,40", "-o", str(tmp_path / "o.png")]
    code, record, err = refocus(str(path), "--depth", str(tmp_path / "metres.npy"), *args)
    assert code == 0, err
    assert record["metric_depth"] == {"source": "depth"}
    assert record["camera"]["focus_distance_m"] == pytest.approx(1.5)  # type: ignore[index]
    assert not any("placed" in note for note in record["notes"])  # type: ignore[attr-defined]


def test_relative_blur_has_no_metric_depth_record(photo: tuple[Path, Path], tmp_path: Path) -> None:
    path, depth = photo
    code, record, err = refocus(str(path), "--depth", str(depth), "--blur", "4", "-o", str(tmp_path / "o.png"))
    assert code == 0, err
    assert record["metric_depth"] is None


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (["--fnumber", "1.8"], "photo.png: physical blur needs --focal-length (not given, and not in the photo's EXI"),
        (["--focal-length", "50"], "photo.png: physical blur needs --fnumber (not given, and not in the photo's EXIF)"),
        (
            ["--fnumber", "1.8", "--focal-length", "50", "--focus-distance", "0.03"],
            "--focus-distance 0.03 m must be beyond the focal length (50.0 mm)",
        ),
        (["--fnumber", "0", "--focal-length", "50"], "--fnumber must be positive, got 0"),
        (["--preset", "portrait-85", "--focus-distance", "nan"], "--focus-distance must be"),
    ],
)
def test_what_cannot_be_meant_is_one_line_before_any_depth(
    photo: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, options: list[str], line: str
) -> None:
    from refocus_cli.image import pipeline

    def no_depth(*_: object, **__: object) -> None:
        raise AssertionError("depth was looked for before the refusal")

    monkeypatch.setattr(pipeline, "choose_depth", no_depth)
    path, depth = photo
    out = path.with_name("o.png")
    result = CliRunner().invoke(app, ["image", str(path), "--depth", str(depth), *options, "-o", str(out)])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refocus: error: ") and line in lines[0], result.stderr
    assert not out.exists()


def test_placement_is_exact_at_the_focus_and_the_far_limit() -> None:
    disparity = torch.linspace(0, 1, 11).reshape(1, 1, 1, 11)
    inverse = inverse_depth_per_m(disparity, 0.4, 2.0)  # [1,1,1,11] 1/m
    assert float(inverse[0, 0, 0, 4]) == pytest.approx(0.5)  # the focus at S
    assert float(inverse[0, 0, 0, 0]) == pytest.approx(0.0, abs=1e-7)  # disparity 0 at infinity
    assert bool((inverse.diff(dim=-1) > 0).all())  # nearer as the disparity grows, affine in it
    finite = inverse_depth_per_m(disparity, 0.4, 2.0, far_m=10.0)
    assert float(finite[0, 0, 0, 0]) == pytest.approx(0.1) and float(finite[0, 0, 0, 4]) == pytest.approx(0.5)
    record = placement(0.4, 2.0, "given").to_record()
    assert record["far_m"] is None and record["near_m"] == pytest.approx(0.8)


def test_a_focus_on_the_far_end_keeps_the_near_end_at_a_distance() -> None:
    disparity = torch.linspace(0, 1, 11).reshape(1, 1, 1, 11)
    inverse = inverse_depth_per_m(disparity, 0.0, 2.0)
    assert float(inverse[0, 0, 0, 0]) == pytest.approx(0.5)  # the focus is still at S
    assert bool((inverse > 0).all())
    near = placement(0.0, 2.0, "given").near_m
    assert near == pytest.approx(2.0 * MIN_FOCUS_LEVER / (1 + MIN_FOCUS_LEVER))
    assert float(1 / inverse[0, 0, 0, -1]) == pytest.approx(near)


def test_a_focus_beyond_the_far_limit_is_refused() -> None:
    with pytest.raises(SettingsError, match="must lie nearer than the far limit"):
        placement(0.5, 12.0, "given", far_m=10.0)
    with pytest.raises(SettingsError, match="must lie nearer than the far limit"):
        inverse_depth_per_m(torch.zeros(1, 1, 2, 2), 0.5, math.inf)


def test_the_focus_distance_comes_from_what_is_known() -> None:
    assert focus_distance_choice(4.0, 3.0, 50.0, 36.0) == (4.0, "given")
    assert focus_distance_choice(None, 3.0, 50.0, 36.0)[0] == 3.0
    assert focus_distance_choice(None, 0.02, 50.0, 36.0)[0] == pytest.approx(1.25)  # nearer than f: not believed
    assert framing_distance_m(6.9, 9.8) == pytest.approx(0.6 * 6.9 * 36 / 9.8 / 24)
    assert framing_distance_m(85.0) == pytest.approx(2.125)


@pytest.mark.parametrize("focus_distance_m", [1.25, 2.125, 7.0])
def test_the_far_end_has_the_blur_of_infinity_whatever_the_focus(focus_distance_m: float) -> None:
    """Rounding at disparity 0 (1/z a hair below 0) must not turn infinity into a point at the lens."""
    from refocus_cli.lens import inverse_depth_signed_coc_px

    camera = CameraSettings(1.4, 85.0, 36.0, focus_distance_m)
    infinity_px = -camera.blur_k_per_inverse_m(1280) / focus_distance_m
    for focus_disparity in np.linspace(0.1, 1.0, 91):
        inverse = inverse_depth_per_m(torch.zeros(1, 1, 1, 1), float(focus_disparity), focus_distance_m)
        coc = float(inverse_depth_signed_coc_px(inverse, camera, 1280))
        assert coc == pytest.approx(infinity_px, rel=1e-5), focus_disparity
