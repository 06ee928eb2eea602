"""`refocus image` through the CLI: outputs, batches, --json, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import struct
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
    """Run `refocus ARGS` in-process; returns (exit code, stdout, stderr) as a user would see them."""
    result = runner.invoke(app, list(args))
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


BAD_INPUTS = [
    # (arguments after `refocus image`: {t} is a scratch folder, {p} a good photo, {d} its depth), exit code, message
    ("{t}/missing.jpg --depth {d}", 1, "missing.jpg: no such file"),
    ("{t}/empty --depth {d}", 1, "empty: folder holds no images"),
    ("{t}/*.heic --depth {d}", 1, "*.heic: no file matches this pattern"),
    ("{t}/notes.jpg --depth {d}", 1, "notes.jpg: not an image"),
    ("{t}/cut.jpg --depth {d}", 1, "cut.jpg: corrupt or truncated"),
    ("{p} --depth {t}/missing.png", 1, "missing.png: no such file"),
    ("{p} --depth {p}", 1, "photo.png: depth map has colour channels that differ"),
    ("{p} --depth {d} --focus 90,10", 1, "photo.png: --focus point 90,10 is outside the image"),
    ("{p} --depth {d} --focus-depth 1.5", 1, "--focus-depth must be a disparity between 0 and 1, got 1.5"),
    ("{p} --depth {d} --blur -2", 1, "--blur must be zero or positive, got -2"),
    ("{p} --depth {d} --blur nan", 1, "--blur must be zero or positive, got nan"),
    ("{p} --depth {d} --fnumber -2", 1, "--fnumber must be positive, got -2"),
    ("{p} {d} --depth {t} -o {t}/x.png", 1, "-o names one output but 2 inputs were given"),
    ("{p} --depth {d} -o {p}", 1, "photo.png: would overwrite an input"),
    ("{p} --depth {d} --suffix=", 1, "photo.png: would overwrite an input"),
    ("{p} --depth {d} -o {t}/exists.png", 1, "exists.png: exists; pass --overwrite"),
    ("{p} --depth {d} --out-dir {p}", 1, "photo.png: is not a folder"),
    ("{p} --depth {d} --preset nope", 1, "unknown --preset 'nope' (known: macro-100"),
    ("{p} --depth {d} --config {t}/bad.toml", 1, "bad.toml: invalid TOML"),
    ("{p} --depth {d} --config {t}/typed.toml", 1, "typed.toml: image.blur must be a number"),
    ("{p} --depth {d} --config {t}/none.toml", 1, "none.toml: config file not found"),
    ("{p} --depth {d} --blades 2", 1, "--blades must be 3 or more"),
    ("{p} --depth {d} --out-dir {t}/new --blades 2", 1, "--blades must be 3 or more"),
    ("{p} --depth {d} --aperture {t}/missing.png", 1, "missing.png: no such file"),
    ("{p} --depth {d} --focus 1,2,3", 2, "Invalid value for --focus: expected X,Y or X,Y,W,H"),
    ("{p} --depth {d} --focus 1,2,0,5", 2, "Invalid value for --focus: expected X,Y or X,Y,W,H in pixels (W, H > 0)"),
    ("{p} --depth {d} --blur 3 --fnumber 2", 2, "Invalid value for --blur: give --blur or the physical options"),
    ("{p} --depth {d} --blur 3 --preset phone", 2, "Invalid value for --blur: give --blur or the physical options"),
    ("{p} --depth {d} --focus 1,2 --focus-depth 0.3", 2, "--focus-depth: give --focus or --focus-depth, not both"),
    ("{p} --depth {d} -o {t}/a.png --out-dir {t}/o", 2, "Invalid value for -o: give -o or --out-dir, not both"),
    ("{p} --depth {d} --device tpu", 2, "Invalid value for '--device'"),
    ("{p} --depth {d} --blur big", 2, "Invalid value for '--blur'"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUTS)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, photo_with_depth: tuple[Path, Path], args: str, code: int, message: str
) -> None:
    photo, depth = photo_with_depth
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.jpg").write_text("not a photo")
    _truncated_jpeg(tmp_path)
    (tmp_path / "exists.png").write_bytes(b"keep")
    (tmp_path / "bad.toml").write_text("[image\nblur = ")
    (tmp_path / "typed.toml").write_text("[image]\nblur = 'big'\n")
    before = sorted(tmp_path.rglob("*"))
    result_code, out, err = invoke("image", *args.format(t=tmp_path, p=photo, d=depth).split())
    assert result_code == code
    assert message in " ".join(err.split())  # rich may wrap usage errors in a box
    if code == 1:
        assert err.count("\n") == 1 and err.startswith("refocus: error: ")
    assert "Traceback" not in err and out == ""
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, nothing removed
    assert (tmp_path / "exists.png").read_bytes() == b"keep"


def test_cuda_asked_for_but_absent_is_one_line(
    monkeypatch: pytest.MonkeyPatch, photo_with_depth: tuple[Path, Path]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    photo, depth = photo_with_depth
    code, _, err = invoke("image", str(photo), "--depth", str(depth), "--device", "cuda")
    assert code == 1
    assert err == "refocus: error: --device cuda asked for, but no CUDA device is available (use --device cpu)\n"
    code, out, err = invoke("image", str(photo), "--depth", str(depth), "--device", "auto", "--json")
    assert code == 0 and json.loads(out)["device"] == "cpu"


def _png_header(path: Path) -> tuple[int, int, int]:
    """(width, height, bits per sample) from a PNG's IHDR chunk."""
    width, height, bits = struct.unpack(">IIB", path.read_bytes()[16:25])
    return width, height, bits


def test_sixteen_bit_photo_stays_sixteen_bit(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    from refocus_cli.io.images import png16_bytes

    _, depth = photo_with_depth
    photo = tmp_path / "deep.png"
    photo.write_bytes(png16_bytes(np.random.default_rng(1).integers(0, 65536, (32, 48, 3), dtype=np.uint16)))
    out = tmp_path / "deep-out.png"
    code, _, err = invoke("image", str(photo), "--depth", str(depth), "--focus", "10,10", "-o", str(out))
    assert code == 0, err
    assert _png_header(photo) == _png_header(out) == (48, 32, 16)


def test_one_output_and_out_dir_naming(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    out_dir = tmp_path / "new" / "folder"
    code, _, err = invoke("image", str(photo), "--depth", str(depth), "--out-dir", str(out_dir), "--quiet")
    assert code == 0 and err == ""
    assert [p.name for p in out_dir.iterdir()] == ["photo_refocus.png"]
    code, _, err = invoke("image", str(photo), "--depth", str(depth), "--out-dir", str(out_dir))
    assert code == 1 and "photo_refocus.png: exists; pass --overwrite" in err
    assert invoke("image", str(photo), "--depth", str(depth), "--out-dir", str(out_dir), "--overwrite")[0] == 0


def test_glob_the_shell_left_alone(tmp_path: Path, photo_with_depth: tuple[Path, Path]) -> None:
    photo, depth = photo_with_depth
    depths = tmp_path / "depths"
    depths.mkdir()
    for name in ("x1", "x2"):
        (tmp_path / f"{name}.png").write_bytes(photo.read_bytes())
        (depths / f"{name}.png").write_bytes(depth.read_bytes())
    code, out, _ = invoke("image", str(tmp_path / "x*.png"), "--depth", str(depths), "--json", "--blur", "2")
    assert code == 0
    assert [Path(json.loads(line)["output"]).name for line in out.splitlines()] == ["x1_refocus.png", "x2_refocus.png"]


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
import refocus_cli.io.image_writer as images
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


def test_folder_inputs_are_its_images_sorted_not_recursive(tmp_path: Path) -> None:
    from refocus_cli.commands.inputs import expand_inputs, output_path_for

    for name in ("b.JPG", "a.heic", "c.tiff", "notes.txt", "sub/d.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = expand_inputs([str(tmp_path), str(tmp_path / "c.tiff")])
    assert [p.name for p in found] == ["a.heic", "b.JPG", "c.tiff"]  # each file once
    name = output_path_for(found[0], output=None, out_dir=None, suffix="_r", extension=None).name
    assert name == "a_r.jpg"  # HEIC is read, not written: JPEG unless --format says otherwise


def test_restore_auto_on_a_sharp_photo_leaves_it_and_says_why(tmp_path: Path) -> None:
    """`--restore auto` on a photo with no blur of its own: nothing is deconvolved, --json says so and why, and
    the output is the one restore off gives (the full CoC is rendered)."""
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(tmp_path / "sharp.png")
    depth = np.zeros((96, 128), np.uint8)
    depth[:, 64:] = 255
    Image.fromarray(depth).save(tmp_path / "depth.png")
    common = ["image", str(tmp_path / "sharp.png"), "--depth", str(tmp_path / "depth.png"), "--blur", "8", "--json"]
    result = runner.invoke(app, [*common, "--restore", "auto", "-o", str(tmp_path / "auto.png")])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)["restore"]
    assert record["mode"] == "auto" and record["restored"] is False
    assert record["why_not"] and "fit_reliable" in record
    result = runner.invoke(app, [*common, "--restore", "off", "-o", str(tmp_path / "off.png")])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["restore"] is None
    auto, off = (np.asarray(Image.open(tmp_path / f"{name}.png")) for name in ("auto", "off"))
    assert np.array_equal(auto, off)
