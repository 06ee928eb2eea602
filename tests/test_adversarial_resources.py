"""Nothing hangs: every number that could cost unbounded time or memory is refused in one line before any work,
and a photo too large for the memory budget is refocused in tiles or refused in one line, inputs untouched."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from adversarial import assert_one_error_line, snapshot_hashes
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app

runner = CliRunner()

IMAGE = "image {p} --depth {d} -o {o}/out.png"
CASES = [
    # (name, arguments: {p} photo, {d} its depth, {clip} a clip, {data} a dataset folder, {o} the output folder;
    #  exit code, what the one line says)
    ("blades-million", f"{IMAGE} --blades 1000000", 1, "--blades must be between 3 and 32, got 1000000"),
    ("blades-33", f"{IMAGE} --blades 33", 1, "--blades must be between 3 and 32, got 33"),
    ("blades-not-a-number", f"{IMAGE} --blades 1e6", 2, "Invalid value for '--blades'"),
    ("rotation-nan", f"{IMAGE} --rotation nan", 1, "--rotation must be any finite number, got nan"),
    ("rotation-inf", f"{IMAGE} --rotation inf", 1, "--rotation must be any finite number, got inf"),
    ("aspect-huge", f"{IMAGE} --aspect 1e9", 1, "--aspect must be between 0.1 and 10"),
    ("highlights-huge", f"{IMAGE} --highlights 1e30", 1, "--highlights must be between 0 and 100"),
    ("highlight-threshold-1", f"{IMAGE} --highlight-threshold 1", 1, "--highlight-threshold must be above 0"),
    ("blur-huge", f"{IMAGE} --blur 1e12", 1, "--blur must be between 0 and 1000 px"),
    ("blur-inf", f"{IMAGE} --blur inf", 1, "--blur must be"),
    ("focus-depth-2", f"{IMAGE} --focus-depth 2", 1, "--focus-depth must be a disparity between 0 and 1"),
    ("fnumber-tiny", f"{IMAGE} --fnumber 0.01", 1, "--fnumber must be 0.5 or more, got 0.01"),
    ("fnumber-huge", f"{IMAGE} --fnumber 1e9", 1, "--fnumber must be between 0.5 and 256"),
    ("focal-length-huge", f"{IMAGE} --focal-length 1e9", 1, "--focal-length must be between 0.5 and 5000 mm"),
    ("sensor-width-huge", f"{IMAGE} --sensor-width 1e6", 1, "--sensor-width must be between 0.5 and 300 mm"),
    ("focus-distance-huge", f"{IMAGE} --focus-distance 1e300", 1, "--focus-distance must be between 0.001 and"),
    ("memory-env-bad", f"{IMAGE} --env REFOCUS_MEMORY_GB=lots", 1, "REFOCUS_MEMORY_GB must be a positive number"),
    ("memory-tiny", f"{IMAGE} --env REFOCUS_MEMORY_GB=0.001", 1, "over the memory budget of 0.001 GB"),
    (
        "memory-learned",
        f"{IMAGE} --engine learned --env REFOCUS_MEMORY_GB=0.001",
        1,
        "use --engine physics (it renders in tiles)",
    ),
    ("generate-steps", "generate cat -o {o}/g.jpg --steps 1000000", 1, "--steps must be between 1 and 1000"),
    ("generate-size", "generate cat -o {o}/g.jpg --size 100000x100000", 1, "--size width must be between 16 and"),
    ("generate-guidance", "generate cat -o {o}/g.jpg --guidance 1e9", 1, "--guidance must be between 0 and 100"),
    ("generate-far", "generate cat -o {o}/g.jpg --far 1e30", 1, "--far must be above 0 m and at most 100000 m"),
    ("generate-blades", "generate cat -o {o}/g.jpg --blades 999", 1, "--blades must be between 3 and 32"),
    ("generate-sweep-count", "generate cat -o {o}/g.jpg --sweep fnumber=SWEEP", 1, "number of values must be"),
    ("generate-sweep-value", "generate cat -o {o}/g.jpg --sweep focus=1,1e9", 1, "every value must be between"),
    ("video-window", "video {clip} -o {o}/v.mp4 --window 1000000", 1, "--window must be between 1 and 64"),
    ("video-overlap", "video {clip} -o {o}/v.mp4 --overlap 1000000", 1, "--overlap must be between 0 and 63"),
    ("video-smoothing", "video {clip} -o {o}/v.mp4 --focus-smoothing 1e9", 1, "--focus-smoothing must be between"),
    ("video-blur", "video {clip} -o {o}/v.mp4 --blur 1e9", 1, "--blur must be between 0 and 1000 px"),
    ("video-blades", "video {clip} -o {o}/v.mp4 --blades 1000000", 1, "--blades must be between 3 and 32"),
    ("video-crf", "video {clip} -o {o}/v.mp4 --crf 1000", 1, "--crf must be between 0 and 63"),
    ("video-fps", "video {clip} -o {o}/v.mp4 --fps 0", 1, "--fps must be above 0"),
    ("bokeh-video-blur", "bokeh-video {clip} -o {o}/v.mp4 --blur 1e9", 1, "--blur must be between 0 and 1000"),
    ("stack-frames", "stack {p} --depth {d} -o {o}/s.mp4 --frames 1000000", 1, "--frames must be between 1 and 240"),
    ("stack-fps", "stack {p} --depth {d} -o {o}/s.mp4 --fps 1e9", 1, "--fps must be above 0 and at most 240"),
    ("stack-blur", "stack {p} --depth {d} -o {o}/s.mp4 --blur 1e9", 1, "--blur must be between 0 and 1000 px"),
    ("stack-blades", "stack {p} --depth {d} -o {o}/s.mp4 --blades 1000000", 1, "--blades must be between 3 and"),
    ("stack-frames-text", "stack {p} --depth {d} -o {o}/s.mp4 --frames many", 2, "Invalid value for '--frames'"),
    ("simulate-count", "simulate --source procedural --out {o}/ds --count 1000000000", 1, "--count must be between"),
    ("simulate-workers", "simulate --source procedural --out {o}/ds --count 2 --workers 100000", 1, "--workers must"),
    ("simulate-workers-0", "simulate --source procedural --out {o}/ds --count 2 --workers 0", 1, "1 or more, got 0"),
    ("train-epochs", "train --data {data} --out {o}/run --epochs 1000000000", 1, "--epochs must be between 1 and"),
    ("train-batch", "train --data {data} --out {o}/run --batch-size 1000000", 1, "--batch-size must be between 1"),
    ("train-crop", "train --data {data} --out {o}/run --crop 1000000", 1, "--crop must be between 16 and 1024 px"),
    ("train-stack-batch", "train --data {data} --out {o}/run --stack-batch 100000", 1, "--stack-batch must be"),
    ("train-channels", "train --data {data} --out {o}/run --channels 8,1000000", 1, "--channels: each value must"),
    ("train-levels", "train --data {data} --out {o}/run --channels 8,8,8,8,8,8,8,8,8", 1, "number of levels must"),
]


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    """Inputs in {tmp}/in (a 48x32 photo, its depth, a clip, a dataset folder) and an empty output folder."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(inputs / "photo.png")
    depth = np.zeros((32, 48), np.uint8)
    depth[:, :24] = 255
    Image.fromarray(depth).save(inputs / "depth.png")
    (inputs / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))  # never opened: refused first
    (inputs / "data").mkdir()
    (inputs / "data" / "manifest.csv").write_text("id\n")
    return {"p": inputs / "photo.png", "d": inputs / "depth.png", "clip": inputs / "clip.mp4", "data": inputs / "data"}


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging) when the block runs longer than `seconds`."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"took more than {seconds} s: not refused up front")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: str, paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run `refocus ARGS` with the paths filled in (`--env NAME=VALUE` sets a variable); (exit code, stderr)."""
    words = []
    for word in shlex.split(args):
        word = word.replace("SWEEP", ",".join(str(1 + i / 10) for i in range(100)))
        words.append(word.format(o=paths["p"].parent.parent / "out", **{k: str(v) for k, v in paths.items()}))
    while "--env" in words:
        at = words.index("--env")
        name, _, value = words[at + 1].partition("=")
        monkeypatch.setenv(name, value)
        del words[at : at + 2]
    result = runner.invoke(app, words)
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("name", "args", "code", "message"), CASES, ids=[case[0] for case in CASES])
def test_refused_in_one_line_before_any_work(
    name: str, args: str, code: int, message: str, workspace: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = workspace["p"].parent
    before = snapshot_hashes(inputs)
    with deadline(60):
        exit_code, stderr = invoke(args, workspace, monkeypatch)
    assert exit_code == code, stderr
    if code == 2:  # Typer's own usage error: its box, no traceback
        assert message in stderr and "Traceback" not in stderr, stderr
    else:
        assert_one_error_line(stderr, message)
    assert snapshot_hashes(inputs) == before  # nothing lost
    assert list((inputs.parent / "out").iterdir()) == []  # nothing made


def test_a_million_blades_are_refused_instantly(workspace: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("image {p} --depth {d} --blades 3", workspace, monkeypatch)  # imports done: time the refusal alone
    with deadline(5):
        exit_code, stderr = invoke(f"{IMAGE} --blades 1000000", workspace, monkeypatch)
    assert exit_code == 1
    assert_one_error_line(stderr, "--blades must be between 3 and 32, got 1000000")


def test_over_budget_is_refused_before_any_pixel_is_decoded(
    workspace: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from refocus_cli.image import pipeline
    from refocus_cli.image import tiled as image_job

    def never(*_: object, **__: object) -> None:
        raise AssertionError("pixels decoded for a refused job")

    monkeypatch.setattr(pipeline, "read_image", never)
    monkeypatch.setattr(image_job, "read_image_codes", never)
    exit_code, stderr = invoke(f"{IMAGE} --env REFOCUS_MEMORY_GB=0.01", workspace, monkeypatch)
    assert exit_code == 1
    assert_one_error_line(stderr, "photo.png: refocusing this 48x32 photo needs about")
    assert "over the memory budget of 0.01 GB (REFOCUS_MEMORY_GB)" in stderr


def test_the_option_ranges_agree_with_the_library() -> None:
    from refocus_cli.aperture import MAX_BLADES
    from refocus_cli.commands import limits
    from refocus_cli.stack.settings import MAX_FRAMES

    assert limits.BLADES.high == MAX_BLADES
    assert limits.STACK_FRAMES.high == MAX_FRAMES


def test_help_states_the_ranges() -> None:
    result = runner.invoke(app, ["image", "--help"], env={"COLUMNS": "200"})
    for text in ("between 3 and 32", "between 0 and 1000 px", "between 0.5 and 256", "REFOCUS_MEMORY_GB"):
        assert text in result.stdout, text
