"""`refocus video` end to end on clips built here: a textured subject moving over a textured background, a
depth clip frame for frame, and an audio track."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app

W, H, FPS, COUNT, SIDE = 160, 120, 25, 30, 30
SUBJECT_Y = 40


def subject_x(index: int) -> int:
    return 20 + 3 * index


def make_clip(
    path: Path, depth_path: Path, *, count: int = COUNT, moving: bool = True, background_blur_px: float = 0.0
) -> None:
    """H.264 clip with AAC audio, and its depth clip (lossless): subject 230 (near), background 60 (defocused
    by a Gaussian of `background_blur_px` when given, as a lens focused on the subject would)."""
    import av
    import cv2

    rng = np.random.default_rng(0)
    background = (rng.random((H, W + 3 * count, 3)) * 255).astype(np.uint8)
    if background_blur_px:
        background = cv2.GaussianBlur(background, (0, 0), background_blur_px)
    subject = (rng.random((SIDE, SIDE, 3)) * 255).astype(np.uint8)
    clip = av.open(str(path), "w")
    video = clip.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    audio = clip.add_stream("aac", rate=44100)
    depth_clip = av.open(str(depth_path), "w")
    depth = depth_clip.add_stream("libx264rgb", rate=FPS)
    depth.width, depth.height, depth.pix_fmt = W, H, "rgb24"
    depth.options = {"qp": "0"}
    for i in range(count):
        x = subject_x(i) if moving else subject_x(0)
        image = background[:, i : i + W].copy() if moving else background[:, :W].copy()
        image[SUBJECT_Y : SUBJECT_Y + SIDE, x : x + SIDE] = subject
        disparity = np.full((H, W, 3), 60, np.uint8)
        disparity[SUBJECT_Y : SUBJECT_Y + SIDE, x : x + SIDE] = 230
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            clip.mux(packet)
        for packet in depth.encode(av.VideoFrame.from_ndarray(disparity, format="rgb24")):
            depth_clip.mux(packet)
    for packet in video.encode():
        clip.mux(packet)
    for packet in depth.encode():
        depth_clip.mux(packet)
    samples = 44100 * count // FPS
    for k in range(0, samples, 1024):
        n = min(1024, samples - k)
        wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(k, k + n) / 44100)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, k
        for packet in audio.encode(frame):
            clip.mux(packet)
    for packet in audio.encode():
        clip.mux(packet)
    clip.close()
    depth_clip.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder / "clip.mp4", folder / "depth.mp4")
    return folder / "clip.mp4", folder / "depth.mp4"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def frames_of(path: Path) -> list[np.ndarray]:
    from refocus_cli.io.video import read_frames

    return [frame.pixels for frame in read_frames(path)]


def audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    import av

    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.audio[0]) if p.size]


def sharpness(pixels: np.ndarray, x: int) -> float:
    """Variance of the Laplacian of the subject's inner square."""
    import cv2

    grey = pixels.mean(axis=2).astype(np.float32)
    inner = grey[SUBJECT_Y + 4 : SUBJECT_Y + SIDE - 4, x + 4 : x + SIDE - 4]
    return float(cv2.Laplacian(inner, cv2.CV_32F).var())


def test_frames_timing_and_audio_are_kept_and_the_subject_stays_sharp(clips: tuple[Path, Path], tmp_path: Path) -> None:
    clip, depth = clips
    out = tmp_path / "out.mp4"
    code, stdout, stderr = run(
        "video", str(clip), "--depth-video", str(depth), "--focus", "35,55", "--blur", "10", "-o", str(out), "--json"
    )
    assert code == 0, stderr
    from refocus_cli.io.video import probe_video, read_frames

    source, result = probe_video(clip), probe_video(out)
    assert (result.frame_count, result.fps, result.time_base) == (source.frame_count, source.fps, source.time_base)
    assert result.duration_s == pytest.approx(source.duration_s)
    assert [f.pts for f in read_frames(out)] == [f.pts for f in read_frames(clip)]
    assert audio_packets(out) == audio_packets(clip)
    record = json.loads(stdout)
    assert len(record["focus_track"]) == COUNT
    for sample in record["focus_track"]:  # the tracker follows the subject's centre
        assert sample["point"][0] == pytest.approx(subject_x(sample["frame"]) + 15, abs=2)
    frames, originals = frames_of(out), frames_of(clip)
    first = sharpness(frames[0], subject_x(0))
    background_kept = []
    for i, frame in enumerate(frames):
        assert sharpness(frame, subject_x(i)) >= 0.9 * first, i  # the subject stays in focus while it moves
        background_kept.append(float(np.abs(frame[:20].astype(float) - originals[i][:20]).mean()))
    assert min(background_kept) > 5  # and the background is blurred


def test_keyframed_focus_pulls_from_subject_to_background(clips: tuple[Path, Path], tmp_path: Path) -> None:
    clip, depth = clips
    code, stdout, stderr = run(
        "video",
        str(clip),
        "--depth-video",
        str(depth),
        "--focus-at",
        "0:35,55",
        "--focus-at",
        "29f:150,5",
        "--blur-at",
        "0:4",
        "--blur-at",
        "1s:12",
        "--focus-smoothing",
        "0",
        "-o",
        str(tmp_path / "pull.mp4"),
        "--json",
    )
    assert code == 0, stderr
    track = json.loads(stdout)["focus_track"]
    assert track[0]["focus_disparity"] == pytest.approx(230 / 255, abs=0.01)
    assert track[-1]["focus_disparity"] == pytest.approx(60 / 255, abs=0.01)
    assert track[0]["blur"] == 4 and track[25]["blur"] == pytest.approx(12)


def test_stabilised_depth_flickers_three_times_less(tmp_path: Path) -> None:
    """A static scene with noisy per-frame depth (scale, shift and noise per frame): the mean absolute change
    between output frames, with and without stabilisation (measured: 2.21 against 7.89, 3.6x). `refocus bench`
    measures the same (`refocus_cli.bench.flicker`)."""
    from refocus_cli.bench.clips import STATIC_SUBJECT_DISPARITY, write_static_noisy_clip
    from refocus_cli.bench.flicker import read_frame_folder
    from refocus_cli.metrics import temporal_flicker

    clip = write_static_noisy_clip(tmp_path, W, H, 40, seed=3)
    changes = {}
    for flag in ("--stabilise", "--no-stabilise"):
        out = tmp_path / f"out{flag}"
        code, _, stderr = run(
            "bokeh-video",
            str(clip.clip),
            "--depth-video",
            str(clip.depth),
            "--focus-depth",
            str(STATIC_SUBJECT_DISPARITY),
            "--blur",
            "12",
            flag,
            "-o",
            str(out),
        )
        assert code == 0, stderr
        changes[flag] = temporal_flicker(read_frame_folder(out))
    assert changes["--no-stabilise"] >= 3 * changes["--stabilise"], changes


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("not-a-video", "not a video"),
        ("depth-length", "depth clip has 20 frames"),
        ("keyframe-outside", "outside the clip"),
        ("focus-outside", "outside the 160x120 frame"),
    ],
)
def test_bad_input_is_one_line(case: str, expected: str, clips: tuple[Path, Path], tmp_path: Path) -> None:
    clip, depth = clips
    args = ["video", str(clip), "--depth-video", str(depth), "-o", str(tmp_path / "o.mp4")]
    if case == "not-a-video":
        (tmp_path / "notes.mp4").write_text("hello")
        args[1] = str(tmp_path / "notes.mp4")
    elif case == "depth-length":
        make_clip(tmp_path / "short.mp4", tmp_path / "short-depth.mp4", count=20)
        args[3] = str(tmp_path / "short-depth.mp4")
    elif case == "keyframe-outside":
        args += ["--focus-at", "9s:10,10"]
    else:
        args += ["--focus", "500,20"]
    code, _, stderr = run(*args)
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refocus: error:") and expected in lines[0], stderr
    assert not (tmp_path / "o.mp4").exists()


def test_resume_keeps_the_frames_already_written(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """An image-sequence output cut short (frames 10-29 missing) is completed by --resume: only the missing
    frames are rendered, and they come out as a full run writes them."""
    clip, depth = clips
    out = tmp_path / "frames"
    args = ["video", str(clip), "--depth-video", str(depth), "--focus", "35,55", "-o", str(out), "--json"]
    code, _, stderr = run(*args)
    assert code == 0, stderr
    full = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(full) == COUNT
    for path in sorted(out.iterdir())[10:]:
        path.unlink()
    code, stdout, stderr = run(*args, "--resume")
    assert code == 0, stderr
    record = json.loads(stdout)
    assert (record["frames_written"], record["frames_skipped"]) == (COUNT - 10, 10)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == full


def test_depth_from_a_learned_model_per_window(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """No depth clip: a (tiny, random) Depth Anything model saved by the test gives each window's depth."""
    from test_depth_learned import save_depth_anything

    model = save_depth_anything(tmp_path / "tiny-depth-anything")
    clip, _ = clips
    out = tmp_path / "out.mp4"
    code, stdout, stderr = run(
        "bokeh-video", str(clip), "--depth", "model", "--depth-model", str(model), "--window", "8", "--overlap",
        "3", "-o", str(out), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["depth_source"] == "model" and record["frames_written"] == COUNT


def test_without_depth_the_fallback_is_said(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """No depth clip and no model: the sharp clip gets the two-plane approximation, and a note says so."""
    clip, _ = clips
    code, stdout, stderr = run("video", str(clip), "--focus", "35,55", "-o", str(tmp_path / "o.mp4"), "--json")
    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["depth_source"] == "two-plane"
    assert len(record["notes"]) == 1 and "approximate two-plane depth" in record["notes"][0]


def test_an_interrupted_run_leaves_no_output(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """Ctrl-C after a few frames: nothing under the output's name and no temporary file beside it."""
    from refocus_cli.video.pipeline import VideoRequest, refocus_video

    clip, depth = clips
    out = tmp_path / "out.mp4"
    written = []

    def interrupt(count: int, total: int) -> None:
        written.append(count)
        if len(written) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        refocus_video(VideoRequest(clip, out, depth_video=depth, focus_point_xy=(35, 55)), interrupt)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_decoder_or_encoder_stops_the_pipe_with_nothing_left(
    clips: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader and writer threads pass their errors on: a decoding failure mid-clip (reader thread) and an
    encoder failure (writer thread) each end the run with that error, no output, no temporary file, and no
    thread left running."""
    import threading

    import av

    import refocus_cli.io.video as video
    from refocus_cli.errors import InputError, OutputError
    from refocus_cli.io.video_writer import VideoWriter
    from refocus_cli.video.pipeline import VideoRequest, refocus_video

    clip, depth = clips
    before = threading.active_count()
    real_decode, real_write = video._decoded_frames, VideoWriter.write

    def failing_decode(container, stream):  # type: ignore[no-untyped-def]
        for n, frame in enumerate(real_decode(container, stream)):
            if n == 6 and container.name == str(clip):
                raise av.InvalidDataError(1094995529, "Invalid data found when processing input")
            yield frame

    def failing_write(self: VideoWriter, frame) -> None:  # type: ignore[no-untyped-def]
        if frame.index == 4:
            raise OutputError(self.out_path, "cannot encode (disk full)")
        real_write(self, frame)

    out = tmp_path / "out.mp4"
    request = VideoRequest(clip, out, depth_video=depth, focus_point_xy=(35, 55))
    monkeypatch.setattr(video, "_decoded_frames", failing_decode)
    with pytest.raises(InputError, match="corrupt video"):
        refocus_video(request)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(video, "_decoded_frames", real_decode)
    monkeypatch.setattr(VideoWriter, "write", failing_write)
    with pytest.raises(OutputError, match="disk full"):
        refocus_video(request)
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == before


def test_video_restores_each_frame_and_bokeh_video_never(
    clips: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`refocus video --restore on` hands every frame and its depth to restore before rendering, with the photo's
    blur fitted once per window (not per frame), and renders what restore returns; `bokeh-video` never calls
    it. (How well restore works is the restore module's tests' business.)"""
    import torch

    import refocus_cli.restore.pipeline as restore
    from refocus_cli.restore.fit import PhotoDefocus

    calls: list[tuple[tuple[int, ...], str, PhotoDefocus | None]] = []
    fits: list[int] = []
    window_fit = PhotoDefocus.known(1.0, 0.5)

    def fake_fit(linear: torch.Tensor, disparity: torch.Tensor, **_: object) -> PhotoDefocus:
        fits.append(1)
        return window_fit

    def fake_restore(
        linear: torch.Tensor, disparity: torch.Tensor, *, photo_defocus: PhotoDefocus | None = None, mode: str = "auto"
    ) -> restore.RestoreResult:
        calls.append((tuple(disparity.shape), mode, photo_defocus))
        return restore.RestoreResult(torch.zeros_like(linear), PhotoDefocus.known(1.0, 0.5), True)

    monkeypatch.setattr(restore, "estimate_photo_defocus", fake_fit)
    monkeypatch.setattr(restore, "restore_all_in_focus", fake_restore)
    clip, depth = clips
    for command in ("video", "bokeh-video"):
        out = tmp_path / f"{command}.mp4"
        code, _, stderr = run(command, str(clip), "--depth-video", str(depth), "--restore", "on", "-o", str(out))
        assert code == 0, stderr
        if command == "video":
            assert calls == [((1, 1, H, W), "always", window_fit)] * COUNT
            stride = 16 - 4  # the default window and overlap
            assert len(fits) == len({i // stride for i in range(COUNT)}) == 3  # one fit per window
            assert max(float(frame.max()) for frame in frames_of(out)) <= 2  # black frames: restore's output
    assert len(calls) == COUNT and len(fits) == 3  # bokeh-video added none


def test_frames_rendered_in_batches_match_one_at_a_time(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """CUDA renders a window of frames at once; the same batching on the CPU gives the frames one at a time
    gives (PNG frames, so no encoder in between)."""
    from refocus_cli.video.pipeline import VideoRequest, refocus_video

    clip, depth = clips
    outputs = []
    for batch in (1, 7):
        out = tmp_path / f"batch{batch}"
        refocus_video(VideoRequest(clip, out, depth_video=depth, focus_point_xy=(35, 55), render_batch=batch))
        outputs.append(np.stack([np.asarray(Image.open(p)).astype(float) for p in sorted(out.iterdir())]))
    assert outputs[0].shape == (COUNT, H, W, 3)
    assert np.abs(outputs[0] - outputs[1]).max() <= 1
