"""The subject held sharp on every frame: a textured subject moving over a textured background (`make_clip`),
refocused with its exact depth clip, with no depth at all (no clip, no model: the tests run offline), and with
depth whose every window has its own scale and shift. The subject's sharpness (variance of the Laplacian on
its true box, less a 4 px border) in the output is at least 90% of the input's on every frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_video_cli import COUNT, SIDE, SUBJECT_Y, frames_of, make_clip, run, sharpness, subject_x

from refocus_cli.video.stabilise import DepthStabiliser, align_scale_shift

KEEP = 0.9


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`sharp`: all in focus (for bokeh-video); `lens`: the background defocused as a lens focused on the subject
    leaves it (for video); each with its exact depth clip."""
    folder = tmp_path_factory.mktemp("subject")
    make_clip(folder / "sharp.mp4", folder / "sharp-depth.mp4")
    make_clip(folder / "lens.mp4", folder / "lens-depth.mp4", background_blur_px=2.0)
    return {name: folder / f"{name}.mp4" for name in ("sharp", "lens")} | {
        f"{name}-depth": folder / f"{name}-depth.mp4" for name in ("sharp", "lens")
    }


def subject_ratios(clip: Path, out: Path) -> list[float]:
    """Output over input sharpness of the subject's box, per frame."""
    return [
        sharpness(made, subject_x(i)) / sharpness(source, subject_x(i))
        for i, (source, made) in enumerate(zip(frames_of(clip), frames_of(out), strict=True))
    ]


def refocus(*args: str) -> dict[str, object]:
    code, stdout, stderr = run(*args, "--json", "-q")
    assert code == 0, stderr
    return dict(json.loads(stdout))


def on_subject(point: list[float], frame: int) -> bool:
    x, y = point
    return subject_x(frame) <= x < subject_x(frame) + SIDE and SUBJECT_Y <= y < SUBJECT_Y + SIDE


def test_exact_depth_and_auto_focus_hold_the_subject_sharp(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    record = refocus("video", str(clips["sharp"]), "--depth-video", str(clips["sharp-depth"]), "-o", str(out))
    auto = record["auto_focus"]
    assert isinstance(auto, dict) and on_subject(auto["point"], 0), auto  # chosen once, on the first frame
    assert any("auto-focus chose" in note for note in record["notes"])  # type: ignore[attr-defined]
    for sample in record["focus_track"]:  # type: ignore[attr-defined]
        assert on_subject(sample["point"], sample["frame"]), sample  # and followed
    ratios = subject_ratios(clips["sharp"], out)
    assert min(ratios) >= KEEP, [round(r, 3) for r in ratios]


def test_without_depth_auto_focus_holds_the_subject_sharp(clips: dict[str, Path], tmp_path: Path) -> None:
    """No depth clip, no model: the approximate depth, auto-focus on the first frame, the subject followed."""
    out = tmp_path / "out.mp4"
    record = refocus("video", str(clips["lens"]), "--offline", "-o", str(out))
    assert record["depth_source"] == "two-plane"
    assert on_subject(record["auto_focus"]["point"], 0)  # type: ignore[index]
    ratios = subject_ratios(clips["lens"], out)
    assert min(ratios) >= KEEP, [round(r, 3) for r in ratios]
    pairs = zip(frames_of(out), frames_of(clips["lens"]), strict=True)
    background = [np.abs(made[:20].astype(float) - source[:20]).mean() for made, source in pairs]
    assert min(background) > 2  # and the background is blurred further


def test_bokeh_video_follows_a_point_without_depth(clips: dict[str, Path], tmp_path: Path) -> None:
    """A subject the segmentation cannot tell from its background (the same noise): the tracker's box is it."""
    out = tmp_path / "out.mp4"
    record = refocus("bokeh-video", str(clips["sharp"]), "--focus", "35,55", "--offline", "-o", str(out))
    assert record["depth_source"] == "two-plane" and record["auto_focus"] is None
    assert {s["raw_disparity"] for s in record["focus_track"]} == {1.0}  # type: ignore[attr-defined]
    ratios = subject_ratios(clips["sharp"], out)
    assert min(ratios) >= KEEP, [round(r, 3) for r in ratios]


@pytest.mark.parametrize("stabilise", [True, False])
def test_depth_holds_its_scale_across_windows(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stabilise: bool
) -> None:
    """Every window's depth with its own scale and shift (as a model normalising each window would give): the
    stabiliser holds the first frame's across window boundaries, so the focus at the subject stays put and the
    subject sharp. Without it the depth at the subject jumps at each window (the test can fail)."""
    from refocus_cli.video import window_work

    original = window_work.WindowDepth.__call__
    affine = [(1.0, 0.0), (0.4, 0.05), (0.7, 0.3)]  # (scale, shift) of windows 0, 1, 2

    def per_window(self: window_work.WindowDepth, frames: list, depth: list, points: list) -> torch.Tensor:
        scale, shift = affine[frames[0].index // 12]
        return original(self, frames, depth, points) * scale + shift

    monkeypatch.setattr(window_work.WindowDepth, "__call__", per_window)
    out = tmp_path / "out"
    flag = "--stabilise" if stabilise else "--no-stabilise"
    args = ("bokeh-video", str(clips["sharp"]), "--depth-video", str(clips["sharp-depth"]), "--focus", "35,55")
    record = refocus(*args, flag, "-o", str(out))
    raw = [s["raw_disparity"] for s in record["focus_track"]]  # type: ignore[attr-defined]
    ratios = subject_ratios(clips["sharp"], out)
    if stabilise:
        assert max(raw) - min(raw) < 0.01, raw
        assert min(ratios) >= KEEP, [round(r, 3) for r in ratios]
    else:
        assert max(raw) - min(raw) > 0.2, raw


def test_anchored_alignment_keeps_the_subject_where_a_free_fit_drifts() -> None:
    """Depth built around the followed subject (it is 1 on every frame, the background's scale changes per
    frame, the subject moves): anchored at 1 the subject stays at 1; a free scale and shift drift from it."""
    gen = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0.0, 0.6, 48).view(1, 1, 48, 1).expand(1, 1, 48, 64)
    drift: dict[bool, float] = {}
    for anchored in (True, False):
        stabiliser = DepthStabiliser(anchor=1.0 if anchored else None)
        worst = 0.0
        for frame in range(30):
            scale = 0.8 + 0.4 * float(torch.rand(1, generator=gen))
            disparity = (1.0 - scale * (1.0 - ramp)).clamp(0.0, 1.0).clone()
            disparity += 0.01 * torch.randn(disparity.shape, generator=gen)
            x = 2 * frame
            disparity[..., 10:30, x : x + 12] = 1.0
            out = stabiliser.push(disparity.clamp(0.0, 1.0))
            worst = max(worst, 1.0 - float(out[..., 14:26, x + 3 : x + 9].median()))
        drift[anchored] = worst
    assert drift[True] < 0.01 and drift[False] > 0.03, drift


def test_anchored_alignment_recovers_a_scale_about_the_anchor() -> None:
    reference = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    squeezed = 1.0 - 0.5 * (1.0 - reference)  # the same scene, its depth range halved about 1
    assert torch.allclose(align_scale_shift(squeezed, reference, anchor=1.0), reference, atol=1e-5)


def test_restore_is_off_by_default_and_auto_fits_once_per_window(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`refocus video` restores nothing unless asked; a config's `restore = "auto"` fits once per window."""
    import refocus_cli.restore.pipeline as restore

    fits: list[int] = []
    real_fit = restore.estimate_photo_defocus

    def counted(*args: object, **kwargs: object) -> object:
        fits.append(1)
        return real_fit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(restore, "estimate_photo_defocus", counted)
    depth = ("--depth-video", str(clips["lens-depth"]))
    refocus("video", str(clips["lens"]), *depth, "-o", str(tmp_path / "default.mp4"))
    assert fits == []
    config = tmp_path / "config.toml"
    config.write_text('[image]\nrestore = "auto"\n')
    refocus("video", str(clips["lens"]), *depth, "--config", str(config), "-o", str(tmp_path / "auto.mp4"))
    assert len(fits) == len({i // (16 - 4) for i in range(COUNT)}) == 3
