"""One frame on its way through the video pipe: the decoded frame, its depth-clip frame, where the focus was
guessed, and, as the pipe goes on, its stabilised disparity and its focus sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from refocus_cli.io.video_types import Frame
    from refocus_cli.video.request import FocusSample


@dataclass
class FrameItem:
    """One frame on its way through the pipe."""

    frame: Frame
    depth_frame: Frame | None
    guess_xy: tuple[float, float]
    lost: bool = False
    disparity: torch.Tensor | None = None
    sample: FocusSample | None = None
