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
    from refocus_cli.restore.fit import PhotoDefocus

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
    """Depth for a window of L frames -> [L,1,H,W] disparity, from the chosen source."""

    def __init__(self, request: VideoRequest, info: VideoInfo, device: torch.device) -> None:
        self.request, self.info, self.device = request, info, device
        self.notes: list[str] = []
        self.source = self._choose_source()

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
        out = []
        for i, frame in enumerate(frames):
            image = frame_to_linear(frame)
            if self.source == "model":
                from refocus_cli.depth.learned import estimate_depth

                depth = estimate_depth(
                    image.to(self.device), self.request.depth_model, device=self.device, offline=self.request.offline
                )
                out.append(depth.disparity.cpu())
            elif self.source == "defocus":
                from refocus_cli.depth.defocus import defocus_depth

                out.append(defocus_depth(image, points[i]).disparity)
            else:
                from refocus_cli.depth.two_plane import SubjectHint, two_plane_depth

                out.append(two_plane_depth(image, SubjectHint(points[i])).disparity)
        return torch.cat(out)


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
    restore = restore or WindowRestore(request.restore, 1)
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
