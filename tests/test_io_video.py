"""Video and image-sequence I/O: probing, streaming decode, re-encode keeping timing, audio, subtitles and
rotation, atomic output, sequences in and out, and one-line errors. Every clip is synthesised here (64x48)."""

from __future__ import annotations

import inspect
import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from refocus_cli.errors import InputError, OutputError, SettingsError
from refocus_cli.io import video
from refocus_cli.io.sequences import SequenceWriter
from refocus_cli.io.video import EncodeSettings, Frame, VideoWriter, open_writer, probe_video, read_frames

FAST = EncodeSettings(preset="ultrafast")
W, H = 64, 48
SRT = "1\n00:00:00,100 --> 00:00:00,500\nHello\n\n2\n00:00:00,600 --> 00:00:01,000\nWorld\n"


def picture(i: int, *, dtype: type = np.uint8) -> np.ndarray:
    """[H,W,3] frame `i`: a green ramp across, red that changes with i, constant blue (smooth: codecs keep it)."""
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = (40 + 7 * i) % 200
    image[..., 1] = np.linspace(30, 220, W).astype(np.uint8)
    image[..., 2] = 90
    return image.astype(np.uint16) * 257 if dtype == np.uint16 else image


def make_clip(
    path: Path,
    *,
    frames: int = 30,
    rate: Fraction = Fraction(25),
    pix_fmt: str = "yuv420p",
    audio: bool = True,
    rotation_ccw: int = 0,
    subtitles: Path | None = None,
) -> Path:
    """An H.264 clip with a 440 Hz AAC track (and SubRip subtitles remuxed from `subtitles`, for Matroska)."""
    deep = pix_fmt != "yuv420p"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.options = {"preset": "ultrafast"}
        if rotation_ccw:
            stream.set_display_rotation(rotation_ccw)
        sound = out.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        srt_in = av.open(str(subtitles)) if subtitles else None
        text = out.add_stream_from_template(srt_in.streams[0]) if srt_in else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(
                picture(i, dtype=np.uint16 if deep else np.uint8), format="rgb48le" if deep else "rgb24"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if sound is not None:
            total = int(frames / rate * 48000)
            for start in range(0, total, 1024):
                t = np.arange(start, min(start + 1024, total)) / 48000
                samples = av.AudioFrame.from_ndarray(
                    (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono"
                )
                samples.sample_rate, samples.pts = 48000, start
                out.mux(sound.encode(samples))
            out.mux(sound.encode())
        if srt_in is not None and text is not None:
            for packet in srt_in.demux():
                if packet.dts is not None:
                    packet.stream = text
                    out.mux(packet)
            srt_in.close()
    return path


def packets_of(path: Path, kind: str) -> list[tuple[int | None, int | None, bytes]]:
    """(pts, dts, bytes) of every packet of the first stream of `kind` ("audio", "subtitle")."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [(p.pts, p.dts, bytes(p)) for p in container.demux(stream) if p.dts is not None]


def video_pts(path: Path) -> list[int | None]:
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def transcode(source: Path, out: Path, settings: EncodeSettings = FAST) -> None:
    info = probe_video(source)
    with open_writer(out, info, settings, overwrite=False) as writer:
        for frame in read_frames(source):
            writer.write(frame)


def supports(codec: str, pix_fmt: str) -> bool:
    return pix_fmt in [f.name for f in av.Codec(codec, "w").video_formats or ()]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    (folder / "subs.srt").write_text(SRT)
    made = {
        "mp4": make_clip(folder / "pal.mp4"),
        "mov": make_clip(folder / "ntsc.mov", rate=Fraction(30000, 1001)),
        "rotated": make_clip(folder / "portrait.mp4", frames=5, audio=False, rotation_ccw=-90),
        "mkv": make_clip(folder / "subs.mkv", frames=25, subtitles=folder / "subs.srt"),
    }
    if supports("libx264", "yuv420p10le"):
        made["ten_bit"] = make_clip(folder / "deep.mov", frames=10, pix_fmt="yuv420p10le", audio=False)
    return made


# ----------------------------------------------------------------------------------------------------- probing


def test_probe_reads_size_timing_depth_and_codec(clips: dict[str, Path]) -> None:
    info = probe_video(clips["mp4"])
    assert (info.width, info.height, info.frame_count) == (W, H, 30)
    assert info.fps == 25 and info.time_base == Fraction(1, 12800) and info.duration_s == pytest.approx(1.2)
    assert (info.bit_depth, info.pix_fmt, info.codec, info.rotation_deg, info.is_sequence) == (
        8,
        "yuv420p",
        "h264",
        0,
        False,
    )
    ntsc = probe_video(clips["mov"])
    assert ntsc.fps == Fraction(30000, 1001) and ntsc.frame_count == 30


def test_probe_counts_frames_where_the_container_does_not_say(clips: dict[str, Path]) -> None:
    info = probe_video(clips["mkv"])  # Matroska stores no frame count
    assert info.frame_count == 25 == len(video_pts(clips["mkv"]))
    assert info.time_base == Fraction(1, 1000) and info.duration_s == pytest.approx(1.0)


def test_read_frames_yields_stored_rgb_with_timestamps(clips: dict[str, Path]) -> None:
    frames = list(read_frames(clips["mp4"]))
    assert [f.index for f in frames] == list(range(30))
    assert [f.pts for f in frames] == video_pts(clips["mp4"])
    assert frames[3].time_s == pytest.approx(3 / 25)
    assert frames[3].pixels.shape == (H, W, 3) and frames[3].pixels.dtype == np.uint8
    assert np.abs(frames[3].pixels.astype(int) - picture(3)).mean() < 4


def test_read_frames_streams_one_frame_at_a_time(clips: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    long_clip = make_clip(tmp_path / "long.mp4", frames=300, audio=False)
    decoded = []
    real = video._decoded_frames

    def counting(container, stream):  # type: ignore[no-untyped-def]
        for frame in real(container, stream):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(video, "_decoded_frames", counting)
    frames = read_frames(long_clip)
    assert inspect.isgenerator(frames) and not decoded  # nothing decoded before it is asked for
    first_two = list(itertools.islice(frames, 2))
    assert [f.index for f in first_two] == [0, 1]
    assert len(decoded) == 2
    frames.close()


def test_start_skips_earlier_frames(clips: dict[str, Path]) -> None:
    tail = list(read_frames(clips["mp4"], start=27))
    assert [f.index for f in tail] == [27, 28, 29]
    assert [f.pts for f in tail] == video_pts(clips["mp4"])[27:]


# ----------------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("name", ["mp4", "mov"])
def test_round_trip_keeps_timing_and_audio_packets(clips: dict[str, Path], tmp_path: Path, name: str) -> None:
    source = clips[name]
    out = tmp_path / f"out{source.suffix}"
    transcode(source, out)
    before, after = probe_video(source), probe_video(out)
    assert (after.frame_count, after.fps, after.time_base) == (before.frame_count, before.fps, before.time_base)
    assert after.duration_s == before.duration_s
    assert video_pts(out) == video_pts(source)
    assert packets_of(out, "audio") == packets_of(source, "audio")
    first_in, first_out = next(read_frames(source)), next(read_frames(out))
    assert np.abs(first_in.pixels.astype(int) - first_out.pixels).mean() < 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


def test_ten_bit_source_gives_ten_bit_output(clips: dict[str, Path], tmp_path: Path) -> None:
    if "ten_bit" not in clips:
        pytest.skip("this libx264 build cannot encode yuv420p10le")
    source = clips["ten_bit"]
    info = probe_video(source)
    assert (info.bit_depth, info.pix_fmt) == (10, "yuv420p10le")
    frame = next(read_frames(source))
    assert frame.pixels.dtype == np.uint16 and frame.pixels.max() > 255 * 257 // 2  # full 16-bit range
    out = tmp_path / "deep.mp4"
    transcode(source, out)
    after = probe_video(out)
    assert (after.bit_depth, after.pix_fmt, after.frame_count) == (10, "yuv420p10le", 10)
    assert np.abs(next(read_frames(out)).pixels.astype(int) - frame.pixels).mean() < 3 * 257


def test_rotation_is_read_and_written_back(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["rotated"]
    info = probe_video(source)
    assert info.rotation_deg == 90  # display matrix -90 (counter-clockwise) = turn 90 clockwise
    assert (info.width, info.height) == (W, H)  # stored size, rotation not applied
    assert next(read_frames(source)).pixels.shape == (H, W, 3)
    out = tmp_path / "turned.mp4"
    transcode(source, out)
    assert probe_video(out).rotation_deg == 90


def test_subtitle_stream_is_copied_unchanged(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["mkv"]
    assert [b for _, _, b in packets_of(source, "subtitle")] == [b"Hello", b"World"]
    out = tmp_path / "out.mkv"
    transcode(source, out)
    assert packets_of(out, "subtitle") == packets_of(source, "subtitle")
    assert packets_of(out, "audio") == packets_of(source, "audio")
    assert video_pts(out) == video_pts(source)


def test_streams_the_container_cannot_hold_are_skipped_and_named(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["mkv"]
    with VideoWriter(tmp_path / "out.mp4", probe_video(source), FAST, overwrite=False) as writer:
        for frame in itertools.islice(read_frames(source), 3):
            writer.write(frame)
    assert writer.skipped_streams == ["#2 subtitle (subrip)"]
    assert probe_video(tmp_path / "out.mp4").frame_count == 3


def test_interrupted_writer_leaves_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), open_writer(out, probe_video(clips["mp4"]), FAST, overwrite=False) as w:
        for frame in read_frames(clips["mp4"]):
            w.write(frame)
            if frame.index == 5:
                raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_existing_output_and_the_input(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"keep me")
    info = probe_video(clips["mp4"])
    with pytest.raises(OutputError, match="exists"):
        open_writer(out, info, FAST, overwrite=False)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(OutputError, match="is the input"):
        open_writer(clips["mp4"], info, FAST, overwrite=True)
    with pytest.raises(OutputError, match="no frames were written"), open_writer(out, info, FAST, overwrite=True):
        pass
    assert out.read_bytes() == b"keep me" and sorted(tmp_path.iterdir()) == [out]


def test_open_writer_picks_by_suffix_and_checks_settings(clips: dict[str, Path], tmp_path: Path) -> None:
    info = probe_video(clips["mp4"])
    assert isinstance(open_writer(str(tmp_path / "frames") + "/", info, FAST, overwrite=False), SequenceWriter)
    assert isinstance(open_writer(tmp_path / "seq" / "%05d.png", info, FAST, overwrite=False), SequenceWriter)
    with pytest.raises(OutputError, match="unknown video format"):
        open_writer(tmp_path / "a.xyz", info, FAST, overwrite=False)
    with pytest.raises(SettingsError, match="--resume"):
        open_writer(tmp_path / "a.mp4", info, FAST, overwrite=False, resume=True)
    with pytest.raises(SettingsError, match="unknown video encoder"):
        open_writer(tmp_path / "a.mp4", info, EncodeSettings(codec="nope"), overwrite=False)
    with pytest.raises(SettingsError, match="cannot encode"):
        open_writer(tmp_path / "a.mp4", info, EncodeSettings(pix_fmt="rgb24"), overwrite=False)
    with pytest.raises(SettingsError, match=r"libx264 cannot go in a \.webm file"):
        open_writer(tmp_path / "a.webm", info, FAST, overwrite=False)
    frames = save_frames(tmp_path / "frames", ["1.png"])
    with pytest.raises(OutputError, match="input sequence's folder"):
        open_writer(frames / "%05d.png", probe_video(frames), FAST, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "seq"]


# ----------------------------------------------------------------------------------------------------- sequences


def save_frames(folder: Path, names: list[str], *, dtype: type = np.uint8) -> Path:
    """Write picture(i) as `names[i]` (PNG) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        if dtype == np.uint16:
            from refocus_cli.io.images import png16_bytes

            (folder / name).write_bytes(png16_bytes(picture(i, dtype=np.uint16)))
        else:
            Image.fromarray(picture(i)).save(folder / name)
    return folder


def test_folder_sequence_in_natural_order(tmp_path: Path) -> None:
    folder = save_frames(tmp_path / "shots", ["f1.png", "f2.png", "f10.png"])
    (folder / ".hidden.png").write_bytes(b"not read")
    (folder / "notes.txt").write_text("not a frame")
    info = probe_video(folder)
    assert (info.frame_count, info.fps, info.time_base, info.duration_s) == (3, 24, Fraction(1, 24), 0.125)
    assert (info.width, info.height, info.bit_depth, info.pix_fmt, info.codec) == (W, H, 8, "rgb24", "png")
    assert info.is_sequence and info.rotation_deg == 0
    frames = list(read_frames(folder))
    assert [f.index for f in frames] == [0, 1, 2] and all(f.pts is None for f in frames)
    assert all(np.array_equal(f.pixels, picture(i)) for i, f in enumerate(frames))  # f2 before f10
    assert frames[2].time_s == pytest.approx(2 / 24)
    assert probe_video(folder, fps=Fraction(30000, 1001)).fps == Fraction(30000, 1001)
    assert [f.time_s for f in read_frames(folder, start=1, fps=10)] == [0.1, 0.2]


@pytest.mark.parametrize("first", [0, 1])
def test_pattern_sequence_finds_its_first_frame(tmp_path: Path, first: int) -> None:
    save_frames(tmp_path, [f"{n:05d}.png" for n in range(first, first + 3)])
    save_frames(tmp_path, ["7.png"])  # not %05d: ignored
    pattern = tmp_path / "%05d.png"
    assert probe_video(pattern).frame_count == 3
    assert all(np.array_equal(f.pixels, picture(i)) for i, f in enumerate(read_frames(str(pattern))))


def test_sixteen_bit_sequence_reads_as_uint16(tmp_path: Path) -> None:
    folder = save_frames(tmp_path / "deep", ["a.png", "b.png"], dtype=np.uint16)
    info = probe_video(folder)
    assert (info.bit_depth, info.pix_fmt) == (16, "rgb48")
    frame = next(read_frames(folder))
    assert frame.pixels.dtype == np.uint16 and np.array_equal(frame.pixels, picture(0, dtype=np.uint16))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sequence_out_keeps_sixteen_bits_losslessly(tmp_path: Path, suffix: str) -> None:
    source = probe_video(save_frames(tmp_path / "in", ["a.png", "b.png"], dtype=np.uint16))
    out = tmp_path / "out" / f"f_%03d{suffix}"
    with open_writer(out, source, FAST, overwrite=False) as writer:
        for frame in read_frames(source.path):
            writer.write(frame)
    assert sorted(p.name for p in out.parent.iterdir()) == [f"f_000{suffix}", f"f_001{suffix}"]
    again = list(read_frames(out))
    assert again[1].pixels.dtype == np.uint16 and np.array_equal(again[1].pixels, picture(1, dtype=np.uint16))


def test_sequence_out_from_video_is_eight_bit_png_or_jpeg(clips: dict[str, Path], tmp_path: Path) -> None:
    info = probe_video(clips["rotated"])
    folder = tmp_path / "frames"
    with open_writer(str(folder) + "/", info, FAST, overwrite=False) as writer:
        for frame in read_frames(clips["rotated"]):
            writer.write(frame)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i:06d}.png" for i in range(5)]
    with Image.open(folder / names[0]) as img:
        assert img.mode == "RGB"
    deep = probe_video(save_frames(tmp_path / "deep", ["a.png"], dtype=np.uint16))
    with open_writer(tmp_path / "jpg" / "%d.jpg", deep, FAST, overwrite=False) as writer:
        writer.write(next(read_frames(deep.path)))
    assert probe_video(tmp_path / "jpg").bit_depth == 8


def test_sequence_writer_resumes_where_it_stopped(tmp_path: Path) -> None:
    source = probe_video(save_frames(tmp_path / "in", [f"{i}.png" for i in range(6)]))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), open_writer(out, source, FAST, overwrite=False) as writer:
        for frame in read_frames(source.path):
            if frame.index == 4:
                raise KeyboardInterrupt
            writer.write(frame)
    assert len(list(out.iterdir())) == 4  # whole frames only, no temporary files
    with pytest.raises(OutputError, match="already holds frames"):
        open_writer(out, source, FAST, overwrite=False)
    resumed = open_writer(out, source, FAST, overwrite=False, resume=True)
    assert isinstance(resumed, SequenceWriter)
    assert [resumed.done(i) for i in range(6)] == [True] * 4 + [False] * 2 and resumed.first_missing() == 4
    written = []
    with resumed:
        for frame in read_frames(source.path, start=resumed.first_missing()):
            if not resumed.done(frame.index):
                resumed.write(frame)
                written.append(frame.index)
    assert written == [4, 5] and resumed.first_missing() == 6
    assert all(np.array_equal(f.pixels, picture(f.index)) for f in read_frames(out))


def test_sequence_to_video_uses_its_frame_rate(tmp_path: Path) -> None:
    folder = save_frames(tmp_path / "in", [f"{i}.png" for i in range(12)])
    source = probe_video(folder, fps=12)
    out = tmp_path / "clip.mp4"
    with open_writer(out, source, FAST, overwrite=False) as writer:
        for frame in read_frames(folder, fps=12):
            writer.write(frame)
    info = probe_video(out)
    assert (info.frame_count, info.fps, info.duration_s) == (12, 12, 1.0)
    assert np.abs(next(read_frames(out)).pixels.astype(int) - picture(0)).mean() < 4


def test_odd_sized_frames_are_cut_to_even_for_yuv420(tmp_path: Path) -> None:
    source = probe_video(save_frames(tmp_path / "in", ["a.png"]))
    odd = Frame(index=0, pts=None, time_s=0.0, pixels=np.zeros((47, 63, 3), np.uint8))
    with open_writer(tmp_path / "odd.mp4", source, FAST, overwrite=False) as writer:
        writer.write(odd)
    info = probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height) == (62, 46)


# ----------------------------------------------------------------------------------------------------- errors


BAD_INPUTS = {
    "missing": ("absent.mp4", "absent.mp4", "no such file"),
    "text": ("notes.txt", "notes.txt", "not a video"),
    "still image": ("still.png", "still.png", "not a video"),
    "audio only": ("sound.m4a", "sound.m4a", "no video stream"),
    "empty folder": ("empty", "empty", "no frames match"),
    "empty pattern": ("empty/%04d.png", "empty/%04d.png", "no frames match"),
    "pattern folder": ("nowhere/%04d.png", "nowhere/%04d.png", "no such folder"),
    "mixed sizes": ("mixed", "mixed/2.png", "is 10x10 but the sequence's first frame is 64x48"),
}
"""name -> (input given, path the message starts with, problem), all relative to the `bad_folder` fixture."""


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("hello\n" * 20)
    Image.fromarray(picture(0)).save(folder / "still.png")
    with av.open(str(folder / "sound.m4a"), "w") as out:
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        for k in range(5):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 48000, k * 1024
            out.mux(sound.encode(samples))
        out.mux(sound.encode())
    (folder / "empty").mkdir()
    mixed = save_frames(folder / "mixed", ["1.png"])
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(mixed / "2.png")
    return folder


@pytest.mark.parametrize("read", [False, True], ids=["probe", "read"])
@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_naming_the_path(bad_folder: Path, name: str, read: bool) -> None:
    given, named, problem = BAD_INPUTS[name]
    with pytest.raises(InputError) as caught:
        if read:
            list(read_frames(str(bad_folder / given)))
        else:
            probe_video(bad_folder / given)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{bad_folder / named}: "), message
    assert problem in message, message
