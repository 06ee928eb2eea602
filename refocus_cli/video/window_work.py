"""The per-window work of the video pipe: frames to linear light and back, depth for a window of frames from
the chosen source, and the render of a batch of frames (restore, highlights, physics or learned engine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from refocus_cli.engines import RestoredPhoto, added_coc_px, render_refocus, restore_step
from refocus_cli.errors import DepthUnavailableError, SettingsError
from refocus_cli.highlights import boost_highlights
from refocus_cli.io.video import Frame, VideoInfo
from refocus_cli.lens import signed_coc_px
from refocus_cli.video.checks import VIDEO_DEPTH_SOURCES
from refocus_cli.video.item import FrameItem
from refocus_cli.video.request import VideoRequest

if TYPE_CHECKING:
    from refocus_cli.autofocus import AutoFocus
    from refocus_cli.depth.two_plane import SubjectHint
    from refocus_cli.restore.fit import PhotoDefocus

SUBJECT_ANCHORED = ("two-plane", "defocus")
"""Depth sources built around the followed subject: it is at disparity 1 on every frame (see `stabilise`)."""

# --- frames and depth -------------------------------------------------------------------------------------------


def frame_to_linear(frame: Frame) -> torch.Tensor:
    """[H,W,3] uint8/uint16 sRGB -> [1,3,H,W] float32 linear light (by table look-up)."""
    from refocus_cli.io.srgb_tables import codes_to_linear

    return codes_to_linear(frame.pixels)


def linear_to_pixels(linear: torch.Tensor, bit_depth: int) -> np.ndarray:
    """[1,3,H,W] linear light -> [H,W,3] sRGB, uint8 for 8-bit clips, else uint16 over the full range."""
    from refocus_cli.io.srgb_tables import linear_to_codes

    return linear_to_codes(linear, 8 if bit_depth <= 8 else 16)


def grey_u8(frame: Frame) -> np.ndarray:
    """[H,W] uint8 grey of a frame, for the tracker."""
    import cv2

    pixels = frame.pixels if frame.pixels.dtype == np.uint8 else (frame.pixels >> 8).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)


def disparity_from_depth_frame(frame: Frame, kind: str) -> torch.Tensor:
    """A frame of a depth clip -> [1,1,H,W] disparity in [0,1] (1 = nearest).

    `disparity`: the frame's grey value as it is (white = near). `depth`: grey is depth (white = far), turned
    into inverse depth and normalised over the frame (the stabiliser then steadies the per-frame scale).
    """
    scale = 255.0 if frame.pixels.dtype == np.uint8 else 65535.0
    grey = torch.from_numpy(frame.pixels[..., 0].astype(np.float32) / scale)[None, None]
    if kind == "disparity":
        return grey
    inverse = 1.0 / grey.clamp_min(1.0 / scale)
    low, high = float(inverse.min()), float(inverse.max())
    return (inverse - low) / max(high - low, 1e-6)


class WindowDepth:
    """Depth for a window of L frames -> [L,1,H,W] disparity, from the chosen source; and the depth auto-focus
    reads on the first frame (`first_frame_focus`)."""

    def __init__(self, request: VideoRequest, info: VideoInfo, device: torch.device) -> None:
        self.request, self.info, self.device = request, info, device
        self.notes: list[str] = []
        self.source = self._choose_source()
        self._first_model_depth: torch.Tensor | None = None

    @property
    def anchor(self) -> float | None:
        """The disparity the source gives the followed subject on every frame, or None (its own scale and shift
        each frame); the stabiliser keeps it. Known once the source is decided (after the first frame's depth)."""
        return 1.0 if self.source in SUBJECT_ANCHORED else None

    def first_frame_focus(self, frame: Frame, depth_frame: Frame | None) -> AutoFocus:
        """Auto-focus on the first frame, as `refocus image` does: the nearest sizeable region near the centre of
        its depth (two-plane: built around the centre; defocus: the sharpest region nearest)."""
        from refocus_cli.autofocus import focus_from_depth

        if self.source == "file":
            assert depth_frame is not None
            disparity = disparity_from_depth_frame(depth_frame, self.request.depth_kind)
        else:
            image = frame_to_linear(frame)
            if self.source == "frames":
                self.source = self._source_from_first_frame(image)
            if self.source == "model":
                disparity = self._first_model_depth = self._model_depth(image)
            elif self.source == "defocus":
                from refocus_cli.depth.defocus import defocus_depth

                disparity = defocus_depth(image, None).disparity
            else:
                disparity = self._two_plane(
                    image, ((self.info.width - 1) / 2, (self.info.height - 1) / 2), followed=False
                )
        return focus_from_depth(disparity)

    def _choose_source(self) -> str:
        request = self.request
        source = request.depth_source
        if source not in VIDEO_DEPTH_SOURCES:
            raise SettingsError(f"--depth must be a depth clip or one of {', '.join(VIDEO_DEPTH_SOURCES[2:])}")
        if request.depth_video is not None and source in ("auto", "file"):
            return "file"
        if source == "file":
            raise SettingsError("--depth file needs a depth clip: pass it with --depth-video")
        if source == "auto":
            from refocus_cli.depth.models import locate_model

            try:
                locate_model(request.depth_model, offline=True)
                return "model"
            except DepthUnavailableError:
                return "frames"  # decided on the first frame: its own defocus, else two planes
        return source

    def _source_from_first_frame(self, first: torch.Tensor) -> str:
        """`defocus` when the first frame's edges pass the defocus confidence test, else `two-plane`; said in a
        note."""
        from refocus_cli.depth.defocus import estimate_edge_blur
        from refocus_cli.depth.defocus_confidence import defocus_confidence

        if defocus_confidence(estimate_edge_blur(first)).passed:
            chosen = "defocus"
            how = "depth from the frames' own defocus"
        else:
            chosen = "two-plane"
            how = "an approximate two-plane depth (the followed subject before a receding background)"
        self.notes.append(
            f"{self.request.input_path}: no depth clip, and the learned model {self.request.depth_model} is not in a "
            f"folder or the Hugging Face cache (video never downloads it), so the depth is {how}; pass "
            "--depth-video FILE or --depth-model PATH for a real one"
        )
        return chosen

    def __call__(
        self, frames: list[Frame], depth_frames: list[Frame], points: list[tuple[float, float]]
    ) -> torch.Tensor:
        if self.source == "file":
            return torch.cat([disparity_from_depth_frame(f, self.request.depth_kind) for f in depth_frames])
        if self.source == "frames":
            self.source = self._source_from_first_frame(frame_to_linear(frames[0]))
        if self.source == "two-plane":
            return self._two_plane_window(frames, points)
        out = []
        for i, frame in enumerate(frames):
            if self.source == "model" and frame.index == 0 and self._first_model_depth is not None:
                out.append(self._first_model_depth)  # auto-focus estimated it already
                continue
            image = frame_to_linear(frame)
            if self.source == "model":
                out.append(self._model_depth(image))
            elif self.source == "defocus":
                from refocus_cli.depth.defocus import defocus_depth

                out.append(defocus_depth(image, points[i]).disparity)
            else:
                out.append(self._two_plane(image, points[i]))
        return torch.cat(out)

    def _two_plane_window(self, frames: list[Frame], points: list[tuple[float, float]]) -> torch.Tensor:
        """[N,1,H,W] two-plane disparity of a window: the subject segmented once, on the window's middle frame,
        and moved with the followed point to the other frames. A segmentation per frame would let what it takes
        in (a face beside the followed point, say) flicker in and out of focus from frame to frame."""
        from refocus_cli.depth.two_plane import disparity_from_mask, subject_mask

        middle = len(frames) // 2
        mask = subject_mask(frame_to_linear(frames[middle]), self._hint(points[middle]))
        out = []
        for point in points:
            dx, dy = round(point[0] - points[middle][0]), round(point[1] - points[middle][1])
            out.append(disparity_from_mask(shifted(mask, dx, dy)))
        return torch.cat(out)

    def _model_depth(self, image: torch.Tensor) -> torch.Tensor:
        """[1,1,H,W] disparity of one frame [1,3,H,W] from the learned model, on the CPU."""
        from refocus_cli.depth.learned import estimate_depth

        request = self.request
        depth = estimate_depth(image.to(self.device), request.depth_model, device=self.device, offline=request.offline)
        return depth.disparity.cpu()

    def _two_plane(self, image: torch.Tensor, point_xy: tuple[float, float], *, followed: bool = True) -> torch.Tensor:
        """[1,1,H,W] two-plane disparity of one frame with the subject under the point. A `followed` point (the
        tracker's) is on the subject: the tracker's box around it is the subject where the segmentation finds
        none there. Auto-focus's look around the centre is not followed: the subject found elsewhere stands."""
        from refocus_cli.depth.two_plane import two_plane_depth

        return two_plane_depth(image, self._hint(point_xy, followed=followed)).disparity

    def _hint(self, point_xy: tuple[float, float], *, followed: bool = True) -> SubjectHint:
        """The subject under the point; a followed point's box (the tracker's) stands where segmentation finds
        none."""
        from refocus_cli.depth.two_plane import SubjectHint
        from refocus_cli.video.track import default_box_px

        side = default_box_px((self.info.height, self.info.width))
        box = (point_xy[0] - side / 2, point_xy[1] - side / 2, float(side), float(side))
        return SubjectHint(point_xy, followed_xywh=box if followed else None)


class WindowRestore:
    """Restore for the frames of a clip: the photo's own blur (K0, d0) is fitted once per window of frames, on
    the first frame of the window that is rendered, and every frame of that window is restored with it (a
    per-frame fit would flicker and cost a fit per frame).

    Args:
        mode: --restore (auto, on or off).
        stride: frames between window starts (`WindowPlan.stride`); frame i belongs to window i // stride.
    """

    def __init__(self, mode: str, stride: int) -> None:
        self.mode = mode
        self.stride = max(1, stride)
        self.window = -1
        self.fit: PhotoDefocus | None = None
        self.fits = 0

    def __call__(self, index: int, linear: torch.Tensor, disparity: torch.Tensor) -> RestoredPhoto:
        """Frame `index` [1,3,H,W] linear with its [1,1,H,W] disparity, restored (or as it is)."""
        if self.mode == "off":
            return restore_step(linear, disparity, "off")
        window = index // self.stride
        if window != self.window or self.fit is None:
            from refocus_cli.restore.pipeline import estimate_photo_defocus

            self.fit = estimate_photo_defocus(linear, disparity)
            self.window = window
            self.fits += 1
        return restore_step(linear, disparity, self.mode, photo_defocus=self.fit)


def render_frames(
    items: list[FrameItem],
    request: VideoRequest,
    device: torch.device,
    bit_depth: int,
    restore: WindowRestore | None = None,
) -> list[np.ndarray]:
    """Frames refocused together (one batch on the device): CoC from each frame's depth and focus, restore (if
    asked: fitted once per window by `restore`), highlights, render; [H,W,3] sRGB pixels each."""
    restore = restore or WindowRestore(request.restore, request.window - request.overlap)
    cocs, images, disparities, focus, blur = [], [], [], [], []
    for item in items:
        assert item.sample is not None and item.disparity is not None
        coc = signed_coc_px(item.disparity, item.sample.disparity, item.sample.blur_k_px)  # [1,1,H,W]
        restored = restore(item.frame.index, frame_to_linear(item.frame), item.disparity)  # [1,3,H,W]
        coc = added_coc_px(coc, restored.residual_radius_px)  # the blur the frame does not hold yet
        cocs.append(coc)
        images.append(boost_highlights(restored.image, coc, request.highlights))
        disparities.append(item.disparity)
        focus.append(item.sample.disparity)
        blur.append(item.sample.blur_k_px)
    with torch.no_grad():
        rendered = render_refocus(  # [N,3,H,W]
            request.engine,
            torch.cat(images),
            torch.cat(disparities),
            torch.cat(cocs),
            torch.tensor(focus),
            torch.tensor(blur),
            aperture=request.aperture,
            quality=request.quality,
            model=request.model,
            device=device,
        )
    return [linear_to_pixels(rendered[i : i + 1], bit_depth) for i in range(len(items))]


def shifted(mask: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """[H,W] `mask` moved by whole pixels (dx right, dy down), zero where nothing moves in.

    >>> shifted(torch.eye(3), 1, 0).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    h, w = mask.shape
    out = torch.zeros_like(mask)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out
