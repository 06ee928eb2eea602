"""Adversarial: clips. A clip with no frames, a FIFO, an output that is the clip or its depth clip, frames written
into the folder they are read from, an unknown container: each one line naming the file, before any frame is
decoded, and every file unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from adversarial import assert_one_error_line, run_cli, snapshot_hashes, write_kernel, write_photo


def write_clip(path: Path, frames: int, codec: str = "libx264") -> Path:
    """A tiny clip (32x24) of `frames` noise frames; zero frames gives a container with a stream and no frame."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        container.start_encoding()
        for _ in range(frames):
            image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    write_clip(tmp_path / "clip.mp4", 4)
    write_clip(tmp_path / "clip_depth.mp4", 4)
    write_clip(tmp_path / "clip_zero.avi", 0, codec="mpeg4")
    write_clip(tmp_path / "exists.mp4", 1)
    for index in range(3):
        write_photo(tmp_path / "frames" / f"{index:03d}.png", (24, 32), seed=index)
    write_kernel(tmp_path / "kernel.png")
    (tmp_path / "afile.txt").write_text("a file")
    os.mkfifo(tmp_path / "fifo.mp4")
    return tmp_path


CASES = [
    ("zero-frames", "video clip_zero.avi -o out.mp4", "clip_zero.avi: has no video frames"),
    ("fifo-clip", "video fifo.mp4 -o out.mp4", "fifo.mp4: is not a regular file (a FIFO)"),
    ("fifo-depth-clip", "video clip.mp4 --depth-video fifo.mp4 -o out.mp4", "fifo.mp4: is not a regular file"),
    ("fifo-kernel", "bokeh-video clip.mp4 --aperture fifo.mp4 -o out.mp4", "fifo.mp4: is not a regular file"),
    ("output-is-clip", "video clip.mp4 -o clip.mp4 --overwrite", "clip.mp4: would overwrite an input"),
    (
        "output-is-depth-clip",
        "video clip.mp4 --depth-video clip_depth.mp4 -o clip_depth.mp4 --overwrite",
        "clip_depth.mp4: would overwrite an input",
    ),
    (
        "bokeh-output-is-depth-clip",
        "bokeh-video clip.mp4 --depth-video clip_depth.mp4 -o ./clip_depth.mp4 --overwrite",
        "would overwrite an input",
    ),
    ("output-is-kernel", "video clip.mp4 --aperture kernel.png -o kernel.png --overwrite", "kernel.png"),
    ("frames-into-their-folder", "video frames/%03d.png -o frames/%03d.png --overwrite", "frames: would write"),
    ("frames-into-their-folder-2", "video frames -o frames/ --overwrite", "frames: would write where this run"),
    ("exists", "video clip.mp4 -o exists.mp4", "exists.mp4: exists; pass --overwrite"),
    ("unknown-container", "video clip.mp4 -o out.xyz", "out.xyz: unknown video format '.xyz'"),
    ("missing-folder", "video clip.mp4 -o nowhere/out.mp4", "nowhere/out.mp4: folder does not exist"),
    ("missing-frames-parent", "video clip.mp4 -o nowhere/deep/", "nowhere/deep: folder does not exist"),
    ("under-a-file", "video clip.mp4 -o afile.txt/out.mp4", "afile.txt is a file, not a folder"),
    ("missing-clip", "video nothing.mp4 -o out.mp4", "nothing.mp4: no such file"),
    ("bad-depth-kind", "video clip.mp4 -o out.mp4 --depth-kind bogus", "--depth-kind must be one of disparity, depth"),
    ("bad-depth-source", "video clip.mp4 -o out.mp4 --depth bogus", "--depth must be a depth clip or one of"),
    ("bad-crf", "video clip.mp4 -o out.mp4 --crf 99", "--crf must be between 0 and 63"),
    ("bad-fps", "video clip.mp4 -o out.mp4 --fps -3", "--fps must be above 0, got -3"),
    ("bad-smoothing", "video clip.mp4 -o out.mp4 --focus-smoothing -1", "--focus-smoothing must be 0"),
    ("two-blades", "video clip.mp4 -o out.mp4 --blades 2", "--blades"),
    ("unknown-codec", "video clip.mp4 -o out.mp4 --codec nope", "unknown video encoder 'nope'"),
    ("audio-codec", "video clip.mp4 -o out.mp4 --codec aac", "'aac' is not a video encoder"),
    ("bad-pix-fmt", "video clip.mp4 -o out.mp4 --pix-fmt nope", "libx264 cannot encode nope"),
    ("overlap-not-below-window", "video clip.mp4 -o out.mp4 --window 4 --overlap 4", "--overlap 4 must be smaller"),
    ("empty-window", "video clip.mp4 -o out.mp4 --window 0", "--window must be 1 or more"),
    ("overlap-too-big", "video clip.mp4 -o out.mp4 --overlap 99", "--overlap must be between 0 and 63, got 99"),
    ("bad-keyframe", "video clip.mp4 -o out.mp4 --focus-at bad", "--focus-at"),
    ("huge-blur-keyframe", "video clip.mp4 -o out.mp4 --blur-at 0:1e9", "--blur-at must be between 0 and 1000 px"),
    ("bad-blur-keyframe", "video clip.mp4 -o out.mp4 --blur-at 1s:x", "--blur-at"),
    ("negative-blur", "video clip.mp4 -o out.mp4 --blur -1", "--blur must be 0 px or more, got -1"),
    ("focus-depth-range", "video clip.mp4 -o out.mp4 --focus-depth 2", "--focus-depth must be between 0 and 1, got 2"),
]


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_clips_are_one_line_and_change_nothing(
    clips: Path, monkeypatch: pytest.MonkeyPatch, args: str, message: str
) -> None:
    import refocus_cli.video.pipeline as video

    if "zero" not in args:  # every other case is refused before the clip is even probed

        def started(*a: object, **k: object) -> None:
            raise AssertionError("the clip was opened before its paths were checked")

        monkeypatch.setattr(video, "probe_video", started)
    before = snapshot_hashes(clips)
    code, out, err = run_cli(*args.split(), cwd=clips)
    assert code == 1, err
    assert out == ""
    assert_one_error_line(err, message)
    assert snapshot_hashes(clips) == before
