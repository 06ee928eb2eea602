"""`refocus image` through the CLI: outputs, batches, --json, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    """Run `refocus ARGS` in-process, the way `main()` does; returns (exit code, stdout, stderr)."""
    from refocus_cli.errors import RefocusError

    result = runner.invoke(app, list(args))
    if isinstance(result.exception, RefocusError):  # what main() turns into one line
        return result.exception.exit_code, result.stdout, f"refocus: error: {result.exception}"
    return result.exit_code, result.stdout, result.stderr


def test_refocus_one_photo_writes_same_size_and_depth(photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    out = photo.with_name("out.png")
    code, _, err = invoke("image", str(photo), "--depth", str(depth), "--focus", "10,10", "--blur", "6", "-o", str(out))
    assert code == 0, err
    assert "wrote" in err and str(out) in err
    with Image.open(out) as written:
        assert written.size == (48, 32) and written.mode == "RGB"


def test_default_name_beside_the_input_and_suffix(photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    assert invoke("image", str(photo), "--depth", str(depth))[0] == 0
    assert photo.with_name("photo_refocus.png").exists()
    assert invoke("image", str(photo), "--depth", str(depth), "--suffix", "_b", "--format", "jpg")[0] == 0
    assert photo.with_name("photo_b.jpg").exists()


def test_json_records_parse(photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    code, out, _ = invoke(
        "image", str(photo), "--depth", str(depth), "--json", "--focus", "40,5", "--blur", "3", "--blades", "7"
    )
    assert code == 0
    record = json.loads(out.strip())
    assert record["input"] == str(photo) and record["focus_disparity"] == pytest.approx(0.0)
    assert record["blur"] == 3.0 and record["focus_rule"] == "point" and "render" in record["timings_s"]
    assert record["aperture"]["kind"] == "polygon" and record["aperture"]["blades"] == 7


def test_batch_goes_past_a_bad_file_and_reports_it(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    folder = tmp_path / "batch"
    folder.mkdir()
    depths = tmp_path / "depths"
    depths.mkdir()
    for name in ("a", "c"):
        (folder / f"{name}.png").write_bytes(photo.read_bytes())
        (depths / f"{name}.png").write_bytes(depth.read_bytes())
    (folder / "b.png").write_bytes(photo.read_bytes()[:200])  # truncated
    (depths / "b.png").write_bytes(depth.read_bytes())
    out_dir = tmp_path / "out"
    code, out, err = invoke("image", str(folder), "--depth", str(depths), "--out-dir", str(out_dir), "--json")
    assert code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["a_refocus.png", "c_refocus.png"]
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [Path(r["input"]).name for r in records] == ["a.png", "b.png", "c.png"]
    assert "corrupt or truncated" in records[1]["error"]
    assert "b.png" in err and "1 of 3 inputs failed" in err


def test_batch_with_a_depth_folder_missing_one_map(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    folder, depths = tmp_path / "in", tmp_path / "depths"
    folder.mkdir()
    depths.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.png").write_bytes(photo.read_bytes())
    (depths / "b.png").write_bytes(depth.read_bytes())
    code, _, err = invoke("image", str(folder / "a.png"), str(folder / "b.png"), "--depth", str(depths))
    assert code == 1
    assert "a.png: no depth map for it" in err and (folder / "b_refocus.png").exists()


def test_physical_options_and_preset(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, _ = photo_with_depth
    metres = np.full((32, 48), 5.0, np.float32)
    metres[:, :24] = 1.5
    np.save(tmp_path / "m.npy", metres)
    code, out, err = invoke(
        "image",
        str(photo),
        "--depth",
        str(tmp_path / "m.npy"),
        "--preset",
        "portrait-85",
        "--focus",
        "5,5",
        "--json",
        "-o",
        str(tmp_path / "p.png"),
    )
    assert code == 0, err
    camera = json.loads(out)["camera"]
    assert camera["focal_length_mm"] == 85.0 and camera["f_number"] == 1.4
    assert camera["focus_distance_m"] == pytest.approx(1.5)


def _truncated_jpeg(folder: Path) -> Path:
    path = folder / "cut.jpg"
    buffer = folder / "whole.jpg"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(buffer)
    path.write_bytes(buffer.read_bytes()[:300])
    return path


@pytest.mark.parametrize(
    ("make_args", "code", "message"),
    [
        (lambda t, p, d: ["image", str(t / "missing.jpg"), "--depth", str(d)], 1, "missing.jpg: no such file"),
        (lambda t, p, d: ["image", str(t / "empty"), "--depth", str(d)], 1, "folder holds no images"),
        (lambda t, p, d: ["image", str(t / "notes.jpg"), "--depth", str(d)], 1, "notes.jpg: not an image"),
        (lambda t, p, d: ["image", str(_truncated_jpeg(t)), "--depth", str(d)], 1, "cut.jpg: corrupt or truncated"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--focus", "90,10"], 1, "outside the image"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--blur", "-2"], 1, "--blur must be zero or positive"),
        (
            lambda t, p, d: ["image", str(p), str(d), "--depth", str(t), "-o", str(t / "x.png")],
            1,
            "-o names one output",
        ),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "-o", str(p)], 1, "would overwrite an input"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--suffix", ""], 1, "would overwrite an input"),
        (
            lambda t, p, d: ["image", str(p), "--depth", str(d), "-o", str(t / "exists.png")],
            1,
            "exists; pass --overwrite",
        ),
        (lambda t, p, d: ["image", str(p), "--depth", str(p)], 1, "colour channels that differ"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--preset", "nope"], 1, "unknown preset 'nope'"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--config", str(t / "bad.toml")], 1, "invalid TOML"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--blades", "2"], 1, "--blades must be 3 or more"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--focus", "1,2,3"], 2, "X,Y or X,Y,W,H"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--blur", "3", "--fnumber", "2"], 2, "not both"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--focus", "1,2", "--focus-depth", "0.3"], 2, "not both"),
        (lambda t, p, d: ["image", str(p), "--depth", str(d), "--device", "tpu"], 2, "tpu"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, photo_with_depth: tuple[Path, Path], make_args, code: int, message: str
) -> None:
    photo, depth = photo_with_depth
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.jpg").write_text("not a photo")
    (tmp_path / "exists.png").write_bytes(b"keep")
    (tmp_path / "bad.toml").write_text("[image\nblur = ")
    result_code, _, err = invoke(*make_args(tmp_path, photo, depth))
    assert result_code == code
    assert message in " ".join(err.split())  # rich may wrap usage errors in a box
    assert "Traceback" not in err
    assert (tmp_path / "exists.png").read_bytes() == b"keep"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "refocus_cli.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_no_depth_anywhere_is_a_note_and_an_approximate_depth(photo_with_depth: tuple[Path, Path]) -> None:
    photo, _ = photo_with_depth
    code, out, err = invoke("image", str(photo), "--focus", "10,10", "--json")
    assert code == 0
    assert json.loads(out)["depth_source"] == "approximate:two-plane"
    code, _, err = invoke("image", str(photo), "--focus", "10,10", "--overwrite")
    assert code == 0 and "refocus: note:" in err and "approximation" in err


def test_real_process_prints_one_line_and_exit_code(tmp_path: Path) -> None:
    result = _run("image", str(tmp_path / "nope.jpg"), "--depth", str(tmp_path / "d.png"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"refocus: error: {tmp_path / 'nope.jpg'}: no such file"]
    debug = _run("image", str(tmp_path / "nope.jpg"), env={"REFOCUS_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "InputError" in debug.stderr


def test_settings_error_outside_the_batch_is_one_line(tmp_path: Path) -> None:
    result = _run("image", str(tmp_path / "a.jpg"), "--blur", "-1")
    assert result.returncode == 1
    assert result.stderr.strip() == "refocus: error: --blur must be zero or positive, got -1"


def test_interrupt_leaves_no_partial_output(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    """Ctrl-C while the result is being written: no file under the final name, no temporary file left."""
    photo, depth = photo_with_depth
    script = f"""
import sys
import refocus_cli.io.images as images
def interrupted(*args, **kwargs):
    raise KeyboardInterrupt
images._save_pillow = interrupted
sys.argv = ["refocus", "image", {str(photo)!r}, "--depth", {str(depth)!r}, "-o", {str(tmp_path / "out.png")!r}]
from refocus_cli.cli import main
main()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 130 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["depth.png", "photo.png"]


def test_forced_depth_sources_and_saved_depth(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, _ = photo_with_depth
    code, _, err = invoke("image", str(photo), "--depth", "embedded")
    assert code == 1 and "holds no depth" in err and "--depth embedded" in err
    out = tmp_path / "two.png"
    code, stdout, err = invoke(
        "image",
        str(photo),
        "--depth",
        "two-plane",
        "--focus",
        "10,10",
        "-o",
        str(out),
        "--json",
        "--save-depth",
        "--save-depth-npy",
    )
    assert code == 0, err
    record = json.loads(stdout)
    assert record["depth_source"] == "approximate:two-plane" and record["notes"] == []  # forced: no note
    with Image.open(tmp_path / "two-depth.png") as saved, Image.open(tmp_path / "two-depth-preview.png") as preview:
        assert saved.mode.startswith("I;16") and saved.size == (48, 32) and preview.mode == "RGB"
        disparity = np.asarray(saved).astype(float) / 65535
    stored = np.load(tmp_path / "two-depth.npy")
    assert stored.dtype == np.float32 and stored.shape == (32, 48)
    assert np.abs(stored - disparity).max() < 1e-4 and 0.0 <= stored.min() < stored.max() <= 1.0
