"""Adversarial: paths and --overwrite. No run writes over anything it reads, however the path is spelt, with or
without --overwrite; outputs that cannot be written are one line naming them; every such refusal comes before any
work (the job is never started). Each case checks the exit code, the one line naming the file, and the hashes of
every file in the workspace (and that no file was added)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from adversarial import (
    assert_one_error_line,
    read_only_folder,
    run_cli,
    snapshot_hashes,
    write_depth,
    write_kernel,
    write_photo,
)

from refocus_cli.cli import COMMANDS

LONG = "n" * 300


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Photos, depth maps, a kernel, a batch with a depth folder, stack frames, a config and a dataset folder."""
    write_photo(tmp_path / "base.png")
    write_depth(tmp_path / "base-depth.png")
    write_depth(tmp_path / "depth.png")
    write_depth(tmp_path / "out-depth.png")
    write_kernel(tmp_path / "kernel_disc.png")
    for name, seed in (("a", 1), ("b", 2)):
        write_photo(tmp_path / "imgs" / f"{name}.png", seed=seed)
        write_depth(tmp_path / "dd" / f"{name}.png")
    for index in range(3):
        write_photo(tmp_path / "fr" / f"f{index}.png", seed=index)
    write_photo(tmp_path / "fr" / "o-depth.png", seed=9)
    write_photo(tmp_path / "exists.png", seed=5)
    (tmp_path / "settings.toml").write_text("[image]\nblur = 4\n")
    (tmp_path / "cfg.png").write_text("[image]\nblur = 4\n")  # a config with an image's name
    (tmp_path / "afile.txt").write_text("a file, not a folder")
    (tmp_path / "sub").mkdir()
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text("{}")
    os.symlink(tmp_path / "base.png", tmp_path / "link.png")
    os.mkfifo(tmp_path / "fifo.png")
    os.mkfifo(tmp_path / "fifo.toml")
    return tmp_path


def _no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every job fail the test if it starts: the refusals must all come first."""

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the job started before its paths were checked")

    import refocus_cli.generate.pipeline as generate
    import refocus_cli.image.pipeline as image
    import refocus_cli.stack.fuse_files as fuse
    import refocus_cli.stack.make as make
    import refocus_cli.video.pipeline as video

    monkeypatch.setattr(image, "read_image", started)
    monkeypatch.setattr(fuse, "read_frames", started)
    monkeypatch.setattr(make, "read_image", started)
    monkeypatch.setattr(video, "probe_video", started)
    monkeypatch.setattr(generate, "locate_text_to_image", started)


CASES: list[tuple[str, str, str]] = [
    # (id, arguments, what the one line must say); every case exits 1 and changes nothing.
    (
        "depth-is-output",
        "image base.png --depth base-depth.png -o base-depth.png --overwrite",
        "base-depth.png: would overwrite",
    ),
    (
        "saved-depth-is-depth-input",
        "image base.png --depth out-depth.png -o out.png --save-depth --overwrite",
        "out-depth.png: would overwrite an input",
    ),
    (
        "kernel-is-output",
        "image base.png --depth depth.png --aperture kernel_disc.png -o kernel_disc.png --overwrite",
        "kernel_disc.png: would overwrite an input",
    ),
    (
        "batch-onto-depth-folder",
        "image imgs/a.png imgs/b.png --depth dd --out-dir dd --format png --suffix= --overwrite",
        "dd/a.png: would overwrite an input",
    ),
    ("symlink-to-input", "image base.png --depth depth.png -o link.png --overwrite", "(base.png: the same file)"),
    ("dotdot-to-input", "image base.png --depth depth.png -o sub/../base.png --overwrite", "base.png"),
    (
        "dotdot-to-depth",
        "image base.png --depth sub/../depth.png -o depth.png --overwrite",
        "depth.png: would overwrite",
    ),
    ("config-is-output", "image base.png --depth depth.png --config cfg.png -o cfg.png --overwrite", "cfg.png: would"),
    ("exists-without-overwrite", "image base.png --depth depth.png -o exists.png", "exists.png: exists; pass"),
    ("saved-depth-exists", "image base.png --depth depth.png -o out.png --save-depth", "out-depth.png: exists"),
    ("two-inputs-one-output", "image imgs/a.png fr/f0.png fr/f1.png -o x.png", "-o names one output but 3"),
    ("output-is-folder", "image base.png --depth depth.png -o sub", "sub: is a folder"),
    ("unknown-format", "image base.png --depth depth.png -o out.xyz", "out.xyz: unknown image format"),
    ("missing-folder", "image base.png --depth depth.png -o nowhere/out.png", "nowhere/out.png: folder does not"),
    ("fuse-missing-folder", "stack --fuse fr/f0.png fr/f1.png -o nowhere/f.png", "nowhere/f.png: folder does not"),
    ("simulate-missing-folder", "simulate --source procedural --out no/ds --count 2", "no/ds: folder does not"),
    ("generate-missing-folder", "generate sky -o nowhere/g.jpg", "nowhere/g.jpg: folder does not exist"),
    ("out-dir-under-file", "image base.png --depth depth.png --out-dir afile.txt/sub", "afile.txt is a file"),
    ("output-under-file", "image base.png --depth depth.png -o afile.txt/out.png", "afile.txt is a file"),
    ("name-too-long", f"image base.png --depth depth.png -o {LONG}.png", "name is too long"),
    ("fifo-photo", "image fifo.png --depth depth.png -o out.png", "fifo.png: is not a regular file (a FIFO)"),
    ("fifo-depth", "image base.png --depth fifo.png -o out.png", "fifo.png: is not a regular file"),
    ("fifo-kernel", "image base.png --depth depth.png --aperture fifo.png", "fifo.png: is not a regular file"),
    ("fifo-config", "image base.png --depth depth.png --config fifo.toml", "fifo.toml: is not a regular file"),
    ("simulate-into-source", "simulate --source imgs --out imgs --count 2", "imgs: would write where this run reads"),
    ("simulate-over-config", "simulate --source procedural --out . --count 2 --config settings.toml", "would write"),
    ("simulate-fifo-config", "simulate --source procedural --out new --count 2 --config fifo.toml", "fifo.toml"),
    ("train-into-data", "train --data ds --out ds", "ds: would write where this run reads"),
    (
        "generate-onto-kernel",
        "generate sky -o kernel_disc.png --aperture kernel_disc.png --overwrite",
        "kernel_disc.png: would overwrite an input",
    ),
    ("generate-exists", "generate sky -o exists.png", "exists.png: exists"),
    ("bench-onto-its-model", "bench --quick --model ds --out ds/dataset.json --overwrite", "would replace a file"),
]


@pytest.mark.parametrize(("args", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_refused_before_any_work_and_nothing_changes(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, args: str, message: str
) -> None:
    _no_work(monkeypatch)
    before = snapshot_hashes(workspace)
    code, out, err = run_cli(*args.split(), cwd=workspace)
    assert code == 1, err
    assert_one_error_line(err, message)
    assert out == ""
    assert snapshot_hashes(workspace) == before


def test_a_refused_run_makes_no_out_dir(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_work(monkeypatch)
    args = "image imgs/a.png imgs/b.png --depth dd --out-dir new/deeper --aperture fifo.png"
    code, _, err = run_cli(*args.split(), cwd=workspace)
    assert code == 1
    assert_one_error_line(err, "fifo.png: is not a regular file")
    assert not (workspace / "new").exists()


READ_ONLY: list[tuple[str, Callable[[Path], str], str]] = [
    ("output-in-read-only-folder", lambda ro: f"image base.png --depth depth.png -o {ro}/out.png", "read-only"),
    ("out-dir-in-read-only-folder", lambda ro: f"image base.png --depth depth.png --out-dir {ro}/new", "read-only"),
    ("fuse-into-read-only-folder", lambda ro: f"stack --fuse fr/f0.png fr/f1.png -o {ro}/f.png", "read-only"),
    ("stack-into-read-only-folder", lambda ro: f"stack base.png --depth depth.png --out-dir {ro}", "read-only"),
    ("simulate-into-read-only-folder", lambda ro: f"simulate --source procedural --out {ro}/d --count 2", "read-only"),
]


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in READ_ONLY], ids=[c[0] for c in READ_ONLY])
def test_read_only_outputs_are_one_line(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, args: Callable[[Path], str], message: str
) -> None:
    _no_work(monkeypatch)
    with read_only_folder(workspace / "ro") as folder:
        before = snapshot_hashes(workspace)
        code, out, err = run_cli(*args(folder).split(), cwd=workspace)
        assert code == 1, err
        assert out == ""
        assert_one_error_line(err, message)
        assert snapshot_hashes(workspace) == before


def test_overwrite_still_replaces_a_plain_output(workspace: Path) -> None:
    """The rule refuses only what the run reads: an ordinary existing output is replaced with --overwrite."""
    before = snapshot_hashes(workspace)
    code, _, err = run_cli(
        "image", "base.png", "--depth", "depth.png", "-o", "exists.png", "--overwrite", cwd=workspace
    )
    assert code == 0, err
    after = snapshot_hashes(workspace)
    assert after["exists.png"] != before["exists.png"]
    assert {k: v for k, v in after.items() if k != "exists.png"} == {
        k: v for k, v in before.items() if k != "exists.png"
    }


LIGHT_REFUSALS = [
    "image base.png --depth depth.png -o exists.png",
    "image base.png --depth base-depth.png -o base-depth.png --overwrite",
    "image base.png --depth depth.png --fnumber -1",
    "stack --fuse fr/f0.png fr/f1.png -o fr/f1.png --overwrite",
    "stack base.png --depth depth.png --format html -o . --overwrite",
    "video base.png -o base.png --overwrite",
    "simulate --source procedural --out sub/.. --count 2",
    "train --data ds --out ds",
    "generate sky -o exists.png",
]


HEAVY = ("torch", "cv2", "av", "diffusers", "transformers")
"""What takes seconds to import: never before the first pixel."""
NOT_NEEDED = ("pydantic", "rich.markdown", "pygments")
"""Typer's value conversion and markdown help: needed neither to refuse a run nor to show help."""
COMMAND_MODULES = {command.module for command in COMMANDS.values()}


def _probe(args: list[str]) -> str:
    """Python that runs `refocus *args` and prints its exit code, the heavy or unneeded modules it imported and
    the command modules other than the one asked for."""
    return (
        "import sys\n"
        "from refocus_cli.cli import COMMANDS, main\n"
        f"sys.argv = ['refocus', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as done:\n    code = done.code\n"
        f"heavy = sorted(m for m in {HEAVY + NOT_NEEDED!r} if m in sys.modules)\n"
        "mine = {COMMANDS[a].module for a in sys.argv[1:2] if a in COMMANDS}\n"
        "others = sorted({f'refocus_cli.commands.{c.module}' for c in COMMANDS.values() if c.module not in mine}"
        " & set(sys.modules))\n"
        "print('EXIT', code, 'HEAVY', ','.join(heavy), 'OTHERS', ','.join(others))\n"
    )


@pytest.mark.parametrize("args", LIGHT_REFUSALS)
def test_refusals_come_before_any_heavy_import(workspace: Path, args: str) -> None:
    """Every check that needs no pixels runs before torch, OpenCV, PyAV or diffusers load (they take seconds), and
    before anything else a refusal does not need (pydantic, the other commands' modules)."""
    result = subprocess.run(
        [sys.executable, "-c", _probe(args.split())], cwd=workspace, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "EXIT 1 HEAVY  OTHERS", (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("refocus: error: "), result.stderr


HELP = ["--help", "--version", "models fetch --help", *(f"{name} --help" for name in COMMANDS)]


@pytest.mark.parametrize("args", HELP)
def test_help_comes_without_any_heavy_import(tmp_path: Path, args: str) -> None:
    """Help pages (and --version) as light as refusals: none of the heavy libraries, and of the commands only the
    one asked about (`refocus --help` lists them all, so it imports them all)."""
    result = subprocess.run(
        [sys.executable, "-c", _probe(args.split())], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    others = "" if args != "--help" else ",".join(sorted({f"refocus_cli.commands.{m}" for m in COMMAND_MODULES}))
    assert result.stdout.strip().splitlines()[-1] == f"EXIT 0 HEAVY  OTHERS {others}".rstrip(), result
