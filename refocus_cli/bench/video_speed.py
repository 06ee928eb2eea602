"""Video speed: frames per second of the video pipe (`refocus bokeh-video`: depth clip, subject followed,
stabilised depth, render, H.264 encode) on a clip the bench makes, beside the same pipe without depth
stabilisation (what stabilising costs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from refocus_cli.bench.clips import ClipPaths, card_subject_xy, write_card_clip
from refocus_cli.bench.plan import SpeedPlan
from refocus_cli.bench.report import BenchRow, StepResult

WARM_UP_FRAMES = 4


def pipe_fps(clip: ClipPaths, output: Path, plan: SpeedPlan, *, stabilise: bool, device: str) -> float:
    """Frames per second of one `bokeh-video` run of a `write_card_clip` clip over the pipe's own time (start-up
    excluded), focus on the nearest card."""
    from refocus_cli.video.pipeline import VideoRequest, refocus_video

    request = VideoRequest(
        input_path=clip.clip,
        output_path=output,
        depth_video=clip.depth,
        focus_point_xy=card_subject_xy(*plan.video_size_wh),
        blur_k_px=plan.video_blur_k_px,
        stabilise=stabilise,
        restore="off",
        device=device,
        overwrite=True,
    )
    result = refocus_video(request)
    return result.frames_written / result.timings_s["total"]


def video_speed_step(plan: SpeedPlan, device: str, seed: int) -> StepResult:
    """fps of the video pipe with and without depth stabilisation, after a short warm-up clip."""
    width, height = plan.video_size_wh
    with tempfile.TemporaryDirectory(prefix="refocus-bench-") as tmp:
        folder = Path(tmp)
        (folder / "warm").mkdir()
        warm = write_card_clip(folder / "warm", width, height, WARM_UP_FRAMES, seed=seed)
        pipe_fps(warm, folder / "warm.mp4", plan, stabilise=True, device=device)
        clip = write_card_clip(folder, width, height, plan.video_frames, seed=seed)
        fps = {
            flag: pipe_fps(clip, folder / f"out-{flag}.mp4", plan, stabilise=flag, device=device)
            for flag in (False, True)
        }
    case = f"{width}x{height}, {plan.video_frames} frames, K {plan.video_blur_k_px:g}"
    row = BenchRow(
        "video (bokeh-video)",
        case,
        "fps",
        fps[True],
        "no stabilisation",
        fps[False],
        "fps",
        "higher",
        "frames over the pipe's time: decode, depth clip, tracking, render, H.264 encode",
    )
    return StepResult((row,))
