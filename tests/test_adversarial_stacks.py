"""Adversarial: focal stacks, made (`refocus stack`) and fused (`refocus stack --fuse`). Frames that are outputs,
depth files that land on frames, pages that would replace the folder of their photo, one frame, a FIFO frame:
each one line naming the file, before any frame is read, and every file unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from adversarial import assert_one_error_line, run_cli, snapshot_hashes, write_depth, write_photo


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    for index in range(3):
        write_photo(tmp_path / "fr" / f"f{index}.png", seed=index)
    write_photo(tmp_path / "fr" / "o-depth.png", seed=8)
    (tmp_path / "fr" / "n-depth.npy").write_bytes(b"\x93NUMPY not really")
    write_photo(tmp_path / "photo.png", seed=9)
    write_depth(tmp_path / "depth.png")
    write_depth(tmp_path / "depths" / "photo.png")
    write_photo(tmp_path / "exists.png", seed=5)
    (tmp_path / "exists-stack").mkdir()
    (tmp_path / "afile.txt").write_text("a file")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "fr" / "fifo.png")
    return tmp_path


CASES = [
    ("one-frame", "stack --fuse fr/f0.png -o out.png", "fr/f0.png: --fuse needs at least two frames"),
    ("one-frame-twice", "stack --fuse fr/f0.png fr/f0.png -o out.png", "fr/f0.png: --fuse needs at least two"),
    ("fifo-frame", "stack --fuse fr/f0.png fr/fifo.png -o out.png", "fr/fifo.png: is not a regular file (a FIFO)"),
    ("missing-frame", "stack --fuse fr/f0.png fr/nope.png -o out.png", "fr/nope.png: no such file"),
    ("folder-frame", "stack --fuse fr/f0.png sub -o out.png", "sub: folder holds no images"),
    ("output-is-frame", "stack --fuse fr/f0.png fr/f1.png fr/f2.png -o fr/f1.png --overwrite", "fr/f1.png: would"),
    (
        "depth-output-is-frame",
        "stack --fuse fr/f0.png fr/f1.png fr/o-depth.png -o fr/o.png --overwrite",
        "fr/o-depth.png: would overwrite an input",
    ),
    ("output-exists", "stack --fuse fr/f0.png fr/f1.png -o exists.png", "exists.png: exists; pass --overwrite"),
    ("depth-output-exists", "stack --fuse fr/f0.png fr/f1.png -o fr/o.png", "fr/o-depth.png: exists"),
    ("npy-output-exists", "stack --fuse fr/f0.png fr/f1.png -o fr/n.png --save-depth-npy", "fr/n-depth.npy: exists"),
    ("unknown-format", "stack --fuse fr/f0.png fr/f1.png -o fused.gif", "fused.gif: unknown image format"),
    ("output-under-file", "stack --fuse fr/f0.png fr/f1.png -o afile.txt/f.png", "afile.txt is a file"),
    ("out-dir-is-file", "stack --fuse fr/f0.png fr/f1.png --out-dir afile.txt", "afile.txt: exists and is not a"),
    ("page-holds-photo", "stack photo.png --depth depth.png --format html -o . --overwrite", "would write where"),
    ("frames-hold-depth", "stack photo.png --depth depths/photo.png --format png -o depths --overwrite", "would"),
    ("gif-is-depth", "stack photo.png --depth depth.png --format gif -o depth.png --overwrite", "depth.png: would"),
    ("gif-exists", "stack photo.png --depth depth.png --format gif -o exists.png", "exists.png: exists"),
    ("pages-exist", "stack photo.png --depth depth.png --format html -o exists-stack", "exists-stack: exists"),
    ("fifo-kernel", "stack photo.png --depth depth.png --aperture fr/fifo.png", "fr/fifo.png: is not a regular"),
    ("fifo-photo", "stack fr/fifo.png --depth depth.png", "fr/fifo.png: is not a regular file"),
]


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_stacks_are_one_line_and_change_nothing(
    frames: Path, monkeypatch: pytest.MonkeyPatch, args: str, message: str
) -> None:
    import refocus_cli.stack.fuse_files as fuse
    import refocus_cli.stack.make as make

    def started(*a: object, **k: object) -> None:
        raise AssertionError("the stack was read before its paths were checked")

    monkeypatch.setattr(fuse, "read_frames", started)
    monkeypatch.setattr(make, "read_image", started)
    before = snapshot_hashes(frames)
    code, out, err = run_cli(*args.split(), cwd=frames)
    assert code == 1, err
    assert out == ""
    assert_one_error_line(err, message)
    assert snapshot_hashes(frames) == before


def test_a_good_fuse_next_to_frames_writes_only_its_outputs(frames: Path) -> None:
    before = snapshot_hashes(frames)
    code, _, err = run_cli("stack", "--fuse", "fr/f0.png", "fr/f1.png", "-o", "fr/fused.png", cwd=frames)
    assert code == 0, err
    after = snapshot_hashes(frames)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["fr/fused-depth-preview.png", "fr/fused-depth.png", "fr/fused.png"]
