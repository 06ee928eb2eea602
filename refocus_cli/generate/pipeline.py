"""`generate`: one scene from a prompt, rendered through one lens or a sweep of lenses.

1. text to image: the all-in-focus scene (`generate.text_to_image`);
2. depth: the depth model's estimate, in metres (`generate.scene.metric_depth`);
3. focus: `--focus-distance`, else the depth under `--focus X,Y`, else under the auto-focus subject;
4. lens: for each lens (one, or one per `--sweep` value) the thin-lens CoC map and the physics engine's render of
   the same scene, written with the camera settings in its EXIF and, in a JPEG, the metric depth as GDepth
   XMP, so that `refocus image` on the file finds both and refocuses it with the same camera by default.

Every output is checked before the model runs (a long generation never ends in "file exists") and written
atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from refocus_cli.aperture import ApertureShape
from refocus_cli.autofocus import focus_from_depth
from refocus_cli.depth.gdepth_write import embed_segments, gdepth_segments
from refocus_cli.depth.learned import estimate_depth
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.devices import resolve_device
from refocus_cli.focus import FocusSpec, metric_focus_distance
from refocus_cli.generate.outputs import Sweep, check_generate_paths, extra_paths, output_paths
from refocus_cli.generate.scene import SceneRange, lens_coc_px, metric_depth, render_lens
from refocus_cli.generate.text_to_image import Prompting, generate_all_in_focus, locate_text_to_image
from refocus_cli.highlights import HighlightSettings
from refocus_cli.io.atomic import atomic_output
from refocus_cli.io.camera_exif import GENERATED_BY, camera_exif
from refocus_cli.io.depth_files import DepthMap
from refocus_cli.io.depth_output import save_depth
from refocus_cli.io.formats import image_format
from refocus_cli.io.images import write_image
from refocus_cli.lens import CameraSettings, PartialCamera

DEFAULT_CAMERA = PartialCamera(f_number=2.8, focal_length_mm=50.0, sensor_width_mm=36.0)
"""The lens when no option says otherwise: a 50 mm f/2.8 on a full-frame sensor."""


@dataclass(frozen=True)
class GenerateRequest:
    """A scene to generate and the lens (or lenses) to photograph it with.

    Attributes:
        prompting: prompt, negative prompt, seed, steps, guidance, size.
        output_path: the image (a sweep writes `<stem>-<setting><value><suffix>` beside it instead).
        model: text-to-image model: registry name, folder or Hub id (None: the registry's default).
        depth_model: depth model likewise (None: the default depth model).
        camera: lens settings from the options; unset ones come from `DEFAULT_CAMERA`, the focus distance from
            the focus rule.
        focus: a point or box whose depth is the focus distance (none: auto-focus on the subject).
        scene: where a relative depth map's nearest and farthest pixels are put.
        sweep: one image per value of one lens setting.
        save_all_in_focus: also write `<stem>-all-in-focus.png`.
        save_depth: also write the depth: `<stem>-depth.png` (16-bit disparity), its preview, and
            `<stem>-depth-m.tiff` (float32 metres).
    """

    prompting: Prompting
    output_path: Path
    model: str | None = None
    depth_model: str | None = None
    camera: PartialCamera = field(default_factory=PartialCamera)
    focus: FocusSpec = field(default_factory=FocusSpec)
    scene: SceneRange = field(default_factory=SceneRange)
    aperture: ApertureShape = field(default_factory=ApertureShape)
    highlights: HighlightSettings = field(default_factory=HighlightSettings)
    quality: str = "fast"
    sweep: Sweep | None = None
    save_all_in_focus: bool = False
    save_depth: bool = False
    device: str = "auto"
    offline: bool = False
    overwrite: bool = False
    reads: tuple[Path, ...] = ()
    """Other files the run reads (the aperture kernel): checked, like the models, never to be written."""


@dataclass(frozen=True)
class LensImage:
    """One rendered image: its file, the camera, and the largest CoC radius in it (pixels)."""

    path: Path
    camera: CameraSettings
    max_coc_radius_px: float


@dataclass(frozen=True)
class GenerateResult:
    """What `generate` made; `to_record()` is its `--json` line."""

    prompt: str
    model: str
    depth_source: str
    depth_scale: str
    focus_rule: str
    focus_point_xy: tuple[float, float] | None
    width: int
    height: int
    images: tuple[LensImage, ...]
    extra_paths: tuple[Path, ...]
    timings_s: dict[str, float]
    notes: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "model": self.model,
            "size": [self.width, self.height],
            "depth_source": self.depth_source,
            "depth_scale": self.depth_scale,
            "focus_rule": self.focus_rule,
            "focus_point": None if self.focus_point_xy is None else [round(v, 1) for v in self.focus_point_xy],
            "images": [
                {
                    "output": str(image.path),
                    "fnumber": image.camera.f_number,
                    "focal_length_mm": image.camera.focal_length_mm,
                    "sensor_width_mm": image.camera.sensor_width_mm,
                    "focus_distance_m": round(image.camera.focus_distance_m, 4),
                    "max_coc_radius_px": round(image.max_coc_radius_px, 2),
                }
                for image in self.images
            ],
            "also_written": [str(path) for path in self.extra_paths],
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "notes": list(self.notes),
        }


def generate(request: GenerateRequest) -> GenerateResult:
    """Generate the scene and write every image.

    Raises:
        RefocusError: a missing model (one line), bad settings, an output that exists or cannot be written.
    """
    images = output_paths(request.output_path, request.sweep)
    check_generate_paths(request.output_path, request.sweep, extra_paths(request.output_path, request), request)
    device = resolve_device(request.device)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    resolved = locate_text_to_image(request.model, offline=request.offline)
    all_in_focus = generate_all_in_focus(resolved, request.prompting, device)  # [1,3,H,W] linear
    timings["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    depth_model = request.depth_model or DEFAULT_DEPTH_MODEL
    depth = estimate_depth(all_in_focus, depth_model, device=device, offline=request.offline)
    depth_m, scale = metric_depth(depth, request.scene)
    focus_m, rule, point = _focus_distance(request, depth.disparity, depth_m)
    timings["depth"] = time.perf_counter() - start

    start = time.perf_counter()
    h, w = all_in_focus.shape[-2:]
    base = DEFAULT_CAMERA.overridden_by(replace(request.camera, focus_distance_m=focus_m))
    depth_segments = _gdepth_for(depth_m) if any(image_format(p) == "JPEG" for p, _ in images) else b""
    written = []
    for path, lens in images:
        camera = base.overridden_by(lens).complete()
        coc = lens_coc_px(depth_m, camera, int(w))
        rendered = render_lens(all_in_focus, coc, request.aperture, request.highlights, request.quality, device)
        _write_lens_image(path, rendered, camera, depth_segments, request)
        written.append(LensImage(path, camera, float(coc.abs().max())))
    extras = _write_extras(request, all_in_focus, depth, depth_m)
    timings["render_and_write"] = time.perf_counter() - start
    notes = []
    if scale == "scene range":
        notes.append(
            f"the depth model gives relative depth: the scene was placed between {request.scene.near_m:g} m and "
            f"{request.scene.far_m:g} m (--near, --far)"
        )
    if request.output_path.suffix.lower() not in (".jpg", ".jpeg"):
        notes.append("only a JPEG output carries the depth (GDepth) for `refocus image` to read back")
    return GenerateResult(
        prompt=request.prompting.prompt,
        model=resolved.name,
        depth_source=depth.source,
        depth_scale=scale,
        focus_rule=rule,
        focus_point_xy=point,
        width=int(w),
        height=int(h),
        images=tuple(written),
        extra_paths=tuple(extras),
        timings_s=timings,
        notes=tuple(notes),
    )


def _focus_distance(
    request: GenerateRequest, disparity: torch.Tensor, depth_m: torch.Tensor
) -> tuple[float, str, tuple[float, float] | None]:
    """The focus distance (m), the rule that chose it, and the point it was measured at."""
    if request.sweep is not None and request.sweep.setting == "focus":
        return request.sweep.values[0], "--sweep focus", None
    if request.camera.focus_distance_m is not None:
        return request.camera.focus_distance_m, "--focus-distance", None
    focus = request.focus
    rule = "--focus"
    if focus == FocusSpec():
        chosen = focus_from_depth(disparity)
        focus, rule = FocusSpec(point_xy=chosen.point_xy), chosen.rule
    return metric_focus_distance(depth_m, focus, request.output_path), rule, focus.point_xy


def _gdepth_for(depth_m: torch.Tensor) -> bytes:
    """The JPEG segments that carry the scene's metric depth [1,1,H,W] as GDepth (the same for every lens)."""
    metres = depth_m[0, 0].double().numpy()
    near, far = float(metres.min()), float(metres.max())
    far = far if far > near * 1.0001 else near * 1.01  # a flat scene still needs Far > Near
    return gdepth_segments(metres, near, far)


def _write_lens_image(
    path: Path, rendered: torch.Tensor, camera: CameraSettings, depth_segments: bytes, request: GenerateRequest
) -> None:
    """The image with its camera's EXIF; a JPEG also carries the depth segments (GDepth), in one atomic write."""
    exif = camera_exif(camera, software=GENERATED_BY, description=request.prompting.prompt)
    with atomic_output(path, overwrite=request.overwrite) as tmp:
        write_image(tmp, rendered, bit_depth=8, exif=exif, overwrite=True)
        if image_format(path) == "JPEG":
            tmp.write_bytes(embed_segments(tmp.read_bytes(), depth_segments))


def _write_extras(
    request: GenerateRequest, all_in_focus: torch.Tensor, depth: DepthMap, depth_m: torch.Tensor
) -> list[Path]:
    out, written = request.output_path, []
    if request.save_all_in_focus:
        path = out.with_name(f"{out.stem}-all-in-focus.png")
        write_image(path, all_in_focus, bit_depth=8, overwrite=request.overwrite)
        written.append(path)
    if request.save_depth:
        written += save_depth(depth, out, with_npy=False, overwrite=request.overwrite)
        path = out.with_name(f"{out.stem}-depth-m.tiff")
        with atomic_output(path, overwrite=request.overwrite) as tmp:
            Image.fromarray(depth_m[0, 0].numpy().astype(np.float32), mode="F").save(tmp, format="TIFF")
        written.append(path)
    return written
