"""Every setting of a video job that can be checked without the clip, checked before the clip is opened.

`refocus_video` calls `check_video_settings` first: a misspelt depth source, a negative blur, a keyframe that
does not parse, an unknown encoder or an impossible window plan is one line before any frame is decoded.
What needs the clip (a keyframe past its end, a focus point outside its frame) is checked once it is probed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from refocus_cli.errors import SettingsError
from refocus_cli.focus import check_focus_disparity
from refocus_cli.io.encoders import MAX_CRF, encoder_formats
from refocus_cli.lens import check_blur_k

if TYPE_CHECKING:
    from refocus_cli.video.pipeline import VideoRequest

VIDEO_DEPTH_SOURCES = ("auto", "file", "model", "defocus", "two-plane")
"""Values of VideoRequest.depth_source: `auto` tries the depth clip, the learned model, the first frame's
defocus, then the two-plane approximation; the others force one."""
DEPTH_KINDS = ("disparity", "depth")
RESTORE_MODES = ("auto", "on", "off")
ENGINES = ("physics", "learned")
QUALITIES = ("fast", "fine")


def check_video_settings(request: VideoRequest) -> None:
    """Raise `SettingsError` (one line naming the option) for any setting no clip could take."""
    from refocus_cli.video.keyframes import parse_blur_keyframe, parse_focus_keyframe
    from refocus_cli.video.windows import WindowPlan

    if request.depth_source not in VIDEO_DEPTH_SOURCES:
        raise SettingsError(f"--depth must be a depth clip or one of {', '.join(VIDEO_DEPTH_SOURCES[2:])}")
    _one_of("--depth-kind", request.depth_kind, DEPTH_KINDS)
    _one_of("--restore", request.restore, RESTORE_MODES)
    _one_of("--engine", request.engine, ENGINES)
    _one_of("--quality", request.quality, QUALITIES)
    if request.depth_source == "file" and request.depth_video is None:
        raise SettingsError("--depth file needs a depth clip: pass it with --depth-video")
    WindowPlan(request.window, request.overlap)  # raises for an impossible plan
    check_blur_k(request.blur_k_px)
    if request.focus_disparity is not None:
        check_focus_disparity(request.focus_disparity)
    if not 0 <= request.focus_smoothing_s < math.inf:
        raise SettingsError(f"--focus-smoothing must be 0 (off) or more seconds, got {request.focus_smoothing_s:g}")
    if request.sequence_fps is not None and not 0 < request.sequence_fps <= 1000:
        raise SettingsError(f"--fps must be between 0 and 1000, got {request.sequence_fps:g}")
    for text in request.focus_keys:
        parse_focus_keyframe(text)
    for text in request.blur_keys:
        check_blur_k(parse_blur_keyframe(text).value[0], "--blur-at")
    encoder_formats(request.encode.codec, request.encode.pix_fmt)
    if request.encode.crf is not None and not 0 <= request.encode.crf <= MAX_CRF:
        raise SettingsError(f"--crf must be between 0 and {MAX_CRF}, got {request.encode.crf}")


def _one_of(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
