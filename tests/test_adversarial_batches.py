"""Adversarial: batches. A batch goes on past every per-file failure, expected or not (an unexpected exception in
one file is one line naming that file; REFOCUS_DEBUG=1 shows its traceback), lists each failure at the end and
exits 1; the good files are written whole, the inputs are unchanged, and nothing partial is left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from adversarial import run_cli, snapshot_hashes, write_depth, write_photo


@pytest.fixture
def batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """in/: a good photo, a truncated one, a FIFO, one whose processing raises an unexpected error, a good one;
    depth/: a depth map for each stem. `boom.png` makes the image reader raise a ValueError (a bug)."""
    write_photo(tmp_path / "in" / "a.png")
    truncated = tmp_path / "in" / "b.png"
    truncated.write_bytes(write_photo(tmp_path / "spare.png").read_bytes()[:200])
    os.mkfifo(tmp_path / "in" / "c.png")
    write_photo(tmp_path / "in" / "boom.png", seed=3)
    write_photo(tmp_path / "in" / "e.png", seed=4)
    for stem in ("a", "b", "c", "boom", "e", "missing"):
        write_depth(tmp_path / "depth" / f"{stem}.png")
    (tmp_path / "out").mkdir()

    import refocus_cli.image.pipeline as pipeline
    import refocus_cli.io.images as images
    import refocus_cli.stack.make as make

    real_read = images.read_image

    def read_or_fail(path: Path) -> images.LoadedImage:
        if Path(path).name == "boom.png":
            raise ValueError("simulated bug while decoding")
        return real_read(path)

    monkeypatch.setattr(pipeline, "read_image", read_or_fail)
    monkeypatch.setattr(make, "read_image", read_or_fail)
    return tmp_path


INPUTS = ["in/a.png", "in/b.png", "in/c.png", "in/boom.png", "in/missing.png", "in/e.png"]
FAILED = {
    "in/b.png": "in/b.png: corrupt or truncated image",
    "in/c.png": "in/c.png: is not a regular file (a FIFO)",
    "in/boom.png": "in/boom.png: unexpected ValueError: simulated bug while decoding",
    "in/missing.png": "in/missing.png: no such file",
}


@pytest.mark.parametrize(
    ("command", "outputs"),
    [
        (["image", *INPUTS, "--depth", "depth", "--out-dir", "out"], ["a_refocus.png", "e_refocus.png"]),
        (
            ["stack", *INPUTS, "--depth", "depth", "--out-dir", "out", "--format", "gif", "--frames", "2"],
            ["a-stack.gif", "e-stack.gif"],
        ),
    ],
    ids=["image", "stack"],
)
def test_a_batch_goes_past_every_failure_and_lists_them(batch: Path, command: list[str], outputs: list[str]) -> None:
    before = {k: v for k, v in snapshot_hashes(batch).items() if not k.startswith("out")}
    code, _, err = run_cli(*command, cwd=batch)
    assert code == 1, err
    assert sorted(p.name for p in (batch / "out").iterdir()) == outputs  # whole files, no temporary left
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("refocus: error: ")]
    assert len(errors) == len(FAILED), err
    for expected in FAILED.values():
        assert sum(expected in line for line in errors) == 1, (expected, err)
    assert lines[-1] == f"refocus: {len(FAILED)} of {len(INPUTS)} inputs failed"
    assert "Traceback" not in err
    assert {k: v for k, v in snapshot_hashes(batch).items() if not k.startswith("out")} == before


def test_json_records_every_input_in_order(batch: Path) -> None:
    code, out, _ = run_cli("image", *INPUTS, "--depth", "depth", "--out-dir", "out", "--json", cwd=batch)
    assert code == 1
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["input"] for r in records] == INPUTS
    for record in records:
        if record["input"] in FAILED:
            assert FAILED[record["input"]] in record["error"]
        else:
            assert Path(batch / record["output"]).is_file()


def test_debug_lets_the_unexpected_error_through(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFOCUS_DEBUG", "1")
    previous = Path.cwd()
    os.chdir(batch)
    try:
        from typer.testing import CliRunner

        from refocus_cli.cli import app

        result = CliRunner().invoke(app, ["image", "in/a.png", "in/boom.png", "--depth", "depth", "--out-dir", "out"])
    finally:
        os.chdir(previous)
    assert isinstance(result.exception, ValueError)  # with its traceback, for a bug report


def test_an_unexpected_error_outside_a_batch_is_one_line(batch: Path) -> None:
    code, _, err = run_cli("image", "in/boom.png", "--depth", "depth/boom.png", "-o", "out/x.png", cwd=batch)
    assert code == 1
    assert err.splitlines() == [
        "refocus: error: in/boom.png: unexpected ValueError: simulated bug while decoding "
        "(a bug; REFOCUS_DEBUG=1 shows the traceback)"
    ]
    assert list((batch / "out").iterdir()) == []


def test_two_inputs_of_a_batch_onto_one_output_are_refused_before_any_work(batch: Path) -> None:
    write_photo(batch / "other" / "a.png", seed=7)
    before = snapshot_hashes(batch)
    code, _, err = run_cli("image", "in/a.png", "other/a.png", "--depth", "depth", "--out-dir", "out", cwd=batch)
    assert code == 1
    assert err.strip().splitlines() == [
        "refocus: error: out/a_refocus.png: both in/a.png and other/a.png would be written here"
    ]
    assert snapshot_hashes(batch) == before
