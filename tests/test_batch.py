"""Batches at scale: local workers and a Ray cluster write the same bytes as one process, failures come at the end,
--skip-existing finishes a stopped batch, models load once per worker, and a contact sheet shows it all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.batch.ship import swap_paths
from refocus_cli.cli import app

PHOTOS = ("a.png", "b.jpg", "c.png")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process (Ray needs one)."""
    return subprocess.run(
        [sys.executable, "-m", "refocus_cli.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones too), by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Three small photos with depth maps in depth/, and a file that is not an image."""
    rng = np.random.default_rng(1)
    folder, depth = tmp_path / "in", tmp_path / "depth"
    folder.mkdir()
    depth.mkdir()
    for index, name in enumerate(PHOTOS):
        Image.fromarray(rng.integers(0, 256, (40 + 8 * index, 56, 3), dtype=np.uint8)).save(folder / name)
        disparity = np.tile(np.linspace(0, 255, 56, dtype=np.uint8), (40 + 8 * index, 1))
        Image.fromarray(disparity).save(depth / f"{Path(name).stem}.png")
    (folder / "d.jpg").write_bytes(b"not a photo")
    (depth / "d.png").write_bytes((depth / "a.png").read_bytes())
    return tmp_path


def image_args(root: Path, out: str, *extra: str) -> list[str]:
    return ["image", str(root / "in"), "--depth", str(root / "depth"), "--focus", "10,10", "--blur", "6",
            "--save-depth", "--out-dir", str(root / out), *extra]  # fmt: skip


def test_local_workers_write_the_same_bytes_and_report_the_failure_at_the_end(photos: Path) -> None:
    code, _, err_here = invoke(*image_args(photos, "here"))
    assert code == 1
    code, out, err = invoke(*image_args(photos, "workers", "--workers", "2", "--json"))
    assert code == 1
    assert tree(photos / "workers") == tree(photos / "here") and len(tree(photos / "here")) == 9
    records = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["input"] for r in records) == sorted(str(photos / "in" / name) for name in (*PHOTOS, "d.jpg"))
    assert all(r["worker"]["name"] for r in records if "error" not in r)
    assert err.splitlines()[-2:] == [f"refocus: error: {photos / 'in' / 'd.jpg'}: not an image (or a format we "
                                     "cannot read)", "refocus: 1 of 4 inputs failed"]  # fmt: skip
    assert err_here.splitlines()[-1] == "refocus: 1 of 4 inputs failed"


def test_ray_cluster_writes_the_same_bytes_shipped_or_on_shared_folders(photos: Path, ray_cluster: str) -> None:
    assert invoke(*image_args(photos, "here"))[0] == 1
    for out, extra in (("shipped", ()), ("shared", ("--shared-folders",))):
        done = run(*image_args(photos, out, "--ray", ray_cluster, "--json", *extra))
        assert done.returncode == 1, done.stderr
        assert tree(photos / out) == tree(photos / "here"), (out, done.stderr[-3000:])
        records = [json.loads(line) for line in done.stdout.splitlines()]
        assert {Path(r["output"]).parent for r in records if "output" in r} == {photos / out}  # paths as here
        assert [r["error"] for r in records if "error" in r] == [f"{photos / 'in' / 'd.jpg'}: not an image (or a "
                                                                 "format we cannot read)"]  # fmt: skip


def test_ray_stacks_as_page_folders_and_clips_come_back_whole(tmp_path: Path, ray_cluster: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(folder / "p.png")
    make_clips(tmp_path / "clips")
    stack = ["stack", str(folder / "p.png"), "--frames", "4", "--format", "html", "--depth", "two-plane"]
    video = ["video", str(tmp_path / "clips"), "--depth", "two-plane", "--focus-depth", "0.8"]
    for args in (stack, video):
        assert invoke(*args, "--out-dir", str(tmp_path / "here"), "--overwrite")[0] == 0
        done = run(*args, "--out-dir", str(tmp_path / "ray"), "--overwrite", "--ray", ray_cluster)
        assert done.returncode == 0, done.stderr
        assert tree(tmp_path / "ray") == tree(tmp_path / "here")
    assert {"p-stack/index.html", "a-refocused.mp4", "b-refocused.mp4"} <= set(tree(tmp_path / "ray"))


def make_clips(folder: Path, count: int = 6) -> None:
    """Two tiny H.264 clips of noise, a.mp4 and b.mp4."""
    import av

    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a.mp4", "b.mp4"):
        with av.open(str(folder / name), "w") as clip:
            stream = clip.add_stream("libx264", rate=8)
            stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
            for _ in range(count):
                frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8), format="rgb24")
                clip.mux(stream.encode(frame))
            clip.mux(stream.encode())


def test_skip_existing_finishes_a_stopped_batch(photos: Path) -> None:
    assert invoke(*image_args(photos, "out"))[0] == 1
    before = tree(photos / "out")
    (photos / "out" / "b_refocus-depth-preview.png").unlink()  # stopped between b's outputs
    (photos / "out" / "c_refocus.png").unlink()  # c not reached
    code, _, err = invoke(*image_args(photos, "out", "--skip-existing"))
    assert code == 1 and tree(photos / "out") == before
    assert "refocus: skipped 1 of 4 inputs: their outputs exist (--skip-existing)" in err  # a
    code, out, _ = invoke(*image_args(photos, "out", "--skip-existing", "--json", "--workers", "2"))
    records = {Path(r["input"]).name: r for r in map(json.loads, out.splitlines())}
    assert code == 1 and [name for name, r in sorted(records.items()) if r.get("skipped")] == ["a.png", "b.jpg",
                                                                                               "c.png"]  # fmt: skip
    assert "error" in records["d.jpg"]
    code, _, err = invoke(*image_args(photos, "out"))  # without it, outputs that exist are refused
    assert code == 1 and "exists; pass --overwrite" in err


def test_skip_existing_leaves_a_photo_alone_only_when_all_its_outputs_are_there(photos: Path) -> None:
    assert invoke(*image_args(photos, "out"))[0] == 1
    (photos / "out" / "a_refocus-depth.png").write_bytes(b"")  # a present file counts as complete
    (photos / "out" / "c_refocus.png").unlink()
    code, _, err = invoke(*image_args(photos, "out", "--skip-existing"))
    assert code == 1 and (photos / "out" / "c_refocus.png").is_file()
    assert (photos / "out" / "a_refocus-depth.png").read_bytes() == b""
    assert "skipped 2 of 4 inputs" in err


def test_models_are_loaded_once_per_worker(photos: Path, tmp_path: Path) -> None:
    from refocus_cli.learned.model import RefocusModel
    from refocus_cli.learned.pipeline import RefocusPipeline

    torch.manual_seed(3)
    model = tmp_path / "model"
    RefocusPipeline(RefocusModel(block_out_channels=[8, 16], norm_num_groups=4), RefocusPipeline.default_scheduler())\
        .save_pretrained(model)  # fmt: skip
    for name in ("e.png", "f.png", "g.png"):
        (photos / "in" / name).write_bytes((photos / "in" / "a.png").read_bytes())
        (photos / "depth" / name).write_bytes((photos / "depth" / "a.png").read_bytes())
    (photos / "in" / "d.jpg").unlink()
    code, out, err = invoke(*image_args(photos, "out", "--engine", "learned", "--model", str(model), "--workers", "2",
                                        "--json"))  # fmt: skip
    assert code == 0, err
    loads: dict[str, int] = {}
    for record in map(json.loads, out.splitlines()):
        loads[record["worker"]["name"]] = loads.get(record["worker"]["name"], 0) + record["worker"]["models_loaded"]
    assert len(out.splitlines()) == 6 and set(loads.values()) == {1}, loads


def test_contact_sheet_html_and_jpeg(photos: Path) -> None:
    code, _, err = invoke(*image_args(photos, "out", "--contact-sheet", str(photos / "sheet.html")))
    assert code == 1 and f"wrote {photos / 'sheet.html'} (contact sheet of 4 inputs)" in err
    page = (photos / "sheet.html").read_text()
    assert "d.jpg" in page and "not an image" in page and "--blur" in page and "http://" not in page
    assert page.count("a_refocus-depth-preview.png") >= 1
    code, _, err = invoke(*image_args(photos, "out", "--skip-existing", "--contact-sheet", str(photos / "s.jpg")))
    assert code == 1
    with Image.open(photos / "s.jpg") as sheet:
        assert sheet.format == "JPEG" and sheet.height > 200


def test_contact_sheet_problems_are_one_line_before_any_work(photos: Path) -> None:
    code, _, err = invoke(*image_args(photos, "out", "--contact-sheet", str(photos / "sheet.png")))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "sheet.png" in err
    assert not (photos / "out").exists()
    (photos / "sheet.html").write_text("mine")
    code, _, err = invoke(*image_args(photos, "out", "--contact-sheet", str(photos / "sheet.html")))
    assert code == 1 and "sheet.html: exists; pass --overwrite" in err and not (photos / "out").exists()
    code, _, err = invoke(*image_args(photos, "out", "--contact-sheet", str(photos / "in" / "a.png")))
    assert code == 1 and not (photos / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--workers", "2", "--ray", "auto"), "give --workers or --ray, not both"),
        (("--shared-folders",), "--shared-folders is for --ray"),
        (("--workers", "0"), "--workers"),
    ],
)
def test_batch_option_mistakes_are_one_line(photos: Path, args: tuple[str, ...], expected: str) -> None:
    code, _, err = invoke(*image_args(photos, "out", *args))
    assert code != 0 and expected in err and len(err.strip().splitlines()) == 1
    assert not (photos / "out").exists()


def test_video_takes_several_clips_and_refuses_what_it_cannot_resume(tmp_path: Path) -> None:
    make_clips(tmp_path / "clips")
    clips = [str(tmp_path / "clips" / name) for name in ("a.mp4", "b.mp4")]
    code, _, err = invoke("video", *clips, "-o", str(tmp_path / "x.mp4"))
    assert code == 1 and "-o names one output but 2 clips were given; use --out-dir" in err
    code, _, err = invoke("video", clips[0], "-o", str(tmp_path / "frames"), "--skip-existing")
    assert code == 1 and "use --resume" in err
    code, _, err = invoke("video", *clips, "--depth", "two-plane", "--out-dir", str(tmp_path / "out"), "--workers", "2")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-refocused.mp4", "b-refocused.mp4"]
    code, _, err = invoke("video", str(tmp_path / "clips"), "--depth", "two-plane", "--out-dir",
                          str(tmp_path / "out"), "--skip-existing")  # fmt: skip
    assert code == 0 and "skipped 2 of 2 inputs" in err
    assert invoke("video", clips[0], "--depth", "two-plane")[0] == 0  # beside it: a-refocused.mp4
    code, _, err = invoke("video", str(tmp_path / "clips"), "--depth", "two-plane", "--skip-existing")
    assert code == 0 and "left out 1 clip this tool wrote (a-refocused.mp4)" in err
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["a-refocused.mp4", "a.mp4", "b-refocused.mp4",
                                                                       "b.mp4"]  # fmt: skip


def test_fuse_is_one_stack() -> None:
    code, _, err = invoke("stack", "a.png", "b.png", "--fuse", "--workers", "2")
    assert code == 1 and "--fuse makes one image from one stack" in err


def test_paths_swap_for_a_worker_and_back() -> None:
    swaps = {Path("frames"): Path("/p/in/0/frames"), Path("."): Path("/p/out/0"), Path("a.jpg"): Path("/p/in/1/a.jpg")}
    assert swap_paths(Path("frames/%05d.png"), swaps) == Path("/p/in/0/frames/%05d.png")
    assert swap_paths(Path("a.jpg"), swaps) == Path("/p/in/1/a.jpg")  # the file itself, not under "."
    assert swap_paths(Path("a-refocused.jpg"), swaps) == Path("/p/out/0/a-refocused.jpg")
    assert swap_paths(("keep", [Path("/elsewhere/x")]), swaps, in_text=False) == ("keep", [Path("/elsewhere/x")])
    back = {Path("/p/out/0"): Path("out")}
    assert swap_paths({"note": "/p/out/0/a.jpg: no EXIF"}, back) == {"note": "out/a.jpg: no EXIF"}


def written_outputs(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.png") if not p.name.startswith(".")] if folder.is_dir() else []


def test_ctrl_c_stops_a_batch_with_one_line_and_only_whole_outputs(tmp_path: Path) -> None:
    import signal
    import time

    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "refocus_cli.cli", "image", str(folder), "--depth", "two-plane", "--blur", "30",
               "--out-dir", str(out), "--workers", "2", "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and not written_outputs(out):
        time.sleep(0.05)  # until a first output is whole (its hidden temporary file renamed into place)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refocus: interrupted; ") and "of 8 inputs were done" in lines[0]
    written = sorted(out.iterdir())
    assert 1 <= len(written) < 8 and not [p for p in written if p.name.startswith(".")]
    for path in written:
        with Image.open(path) as image:
            image.load()  # whole


def test_folders_leave_out_this_tools_outputs_and_depth_maps(photos: Path) -> None:
    from refocus_cli.commands.inputs import find_inputs

    folder = photos / "in"
    (folder / "d.jpg").unlink()
    assert invoke(*image_args(photos, "in"))[0] == 0  # outputs beside the photos
    (folder / "a-depth.png").write_bytes((photos / "depth" / "a.png").read_bytes())
    found = find_inputs([str(folder)], own_suffixes=("_refocus",))
    assert [p.name for p in found.paths] == list(PHOTOS)
    assert len(found.notes) == 1 and "left out 9 files this tool wrote" in found.notes[0]
    assert "1 depth map (a-depth.png)" in found.notes[0]
    glob_found = find_inputs([str(folder / "*.png")], own_suffixes=("_refocus",))
    assert [p.name for p in glob_found.paths] == ["a.png", "c.png"]
    named = find_inputs([str(folder / "a_refocus.png")], own_suffixes=("_refocus",))
    assert [p.name for p in named.paths] == ["a_refocus.png"] and not named.notes  # named: always used
    code, _, err = invoke(*image_args(photos, "in", "--skip-existing"))
    assert code == 0 and "skipped 3 of 3 inputs" in err and "left out 9 files this tool wrote" in err
    code, _, err = invoke("image", str(photos / "depth"), "--depth", str(photos / "depth"), "--out-dir",
                          str(photos / "o"))  # fmt: skip
    assert code == 1 and "the --depth folder, not read as photos" in err


def test_a_folder_of_depth_maps_only_is_one_line(tmp_path: Path) -> None:
    from refocus_cli.commands.inputs import find_inputs
    from refocus_cli.errors import InputError

    for name in ("x-depth.png", "y_disparity.png"):
        Image.new("L", (4, 4)).save(tmp_path / name)
    with pytest.raises(InputError, match="holds no photos of its own: 2 depth maps"):
        find_inputs([str(tmp_path)], own_suffixes=("_refocus",))
