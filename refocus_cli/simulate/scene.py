"""One scene's samples: source/target pairs at sampled focus planes, blur levels and apertures, and a stacking
group, rendered and encoded as PNG bytes with their manifest rows.

`simulate_scene` is a pure function of its `SceneSpec` and the settings (it reads the photo, writes nothing):
local processes and Ray workers run it and hand the bytes back to the one process that writes the dataset.

Procedural scenes are rendered by the reference renderer (the exact thin-lens image of their layers, up to
`render.max_aperture_samples` aperture points); photos by the physics engine (`render_layered`) from the
photo, taken as all-in-focus, and its depth. Blur levels are K (CoC radius in pixels per unit disparity at the
sample's size) or a physical camera; a camera maps to K exactly because disparity is affine in inverse depth:
r = k_camera * (1/z - 1/S) = k_camera * (1/z_near - 1/z_far) * (d - d_focus).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.aperture import ApertureShape
from refocus_cli.io.depth_files import read_depth_file
from refocus_cli.io.images import encode_srgb, png16_bytes, read_image
from refocus_cli.lens import CameraSettings, signed_coc_px
from refocus_cli.modes import SceneKind, StackCapture
from refocus_cli.render.hard_scenes import random_hard_scene
from refocus_cli.render.layered import render_layered
from refocus_cli.render.reference import aperture_samples_for, render_reference
from refocus_cli.render.scenes import LayeredScene, random_layered_scene
from refocus_cli.render.stacking import blend_stack, in_focus_masks
from refocus_cli.simulate.capture import capture_frame, draw_captures
from refocus_cli.simulate.settings import SimulationSettings
from refocus_cli.simulate.sources import SceneSpec

SCENE_RECORD = "scene.json"
"""The file in each scene folder that holds its manifest rows; it is written last, inside the folder's rename."""


@dataclass(frozen=True)
class Blur:
    """A render's blur: K in pixels per unit disparity, and the camera it came from in physical mode.

    `stopped_down_from` is the sampled f-number when the camera was stopped down to keep K under blur.max_k.
    """

    k_px: float
    camera: CameraSettings | None = None
    stopped_down_from: float | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "blur_k_px": self.k_px,
            "camera": None if self.camera is None else vars(self.camera),
            "stopped_down_from": self.stopped_down_from,
        }


@dataclass(frozen=True)
class SceneContent:
    """What a scene renders from: its all-in-focus image, disparity and the inverse depths of disparity 1 and 0.

    `layered` is the procedural scene itself (rendered exactly); None for a photo (rendered by the engine).
    """

    all_in_focus: torch.Tensor  # [1,3,H,W] linear
    disparity: torch.Tensor  # [1,1,H,W] in [0, 1]
    inverse_depth_range: tuple[float, float]  # (1/z_near, 1/z_far) in 1/m
    source: dict[str, Any]
    layered: LayeredScene | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SceneFiles:
    """One scene's output: file name (in the scene's folder) -> bytes, and its manifest rows."""

    scene_id: str
    files: dict[str, bytes]
    rows: list[dict[str, Any]]


def simulate_scene(spec: SceneSpec, settings: SimulationSettings, *, device: str = "cpu") -> SceneFiles:
    """Render and encode every sample of one scene (deterministic for its seed on one kind of device).

    The parameters are drawn in a fixed order from one generator seeded by the scene: the scene, then each
    pair's aperture, input and target, then the stacking group.
    """
    generator = torch.Generator().manual_seed(spec.seed)
    content = _scene_content(spec, settings, generator, torch.device(device))
    low, high = settings.focus.quantiles
    disparity = content.disparity.flatten().float()
    focus_range = (float(torch.quantile(disparity, low)), float(torch.quantile(disparity, high)))
    scene = _Scene(spec, settings, content, focus_range)
    files = {
        "all_in_focus.png": _png_rgb(content.all_in_focus, settings.render.bit_depth),
        "depth.png": _png_grey16(content.disparity),
    }
    rows = []
    for sample in [*(_pair(scene, index, generator) for index in range(spec.pairs)), _stack(scene, generator)]:
        files.update(sample.files)
        rows.append(sample.row)
    record = {"scene": spec.scene_id, "index": spec.index, "rows": rows}
    files[SCENE_RECORD] = (json.dumps(record) + "\n").encode()
    return SceneFiles(spec.scene_id, files, rows)


def _scene_content(
    spec: SceneSpec, settings: SimulationSettings, generator: torch.Generator, device: torch.device
) -> SceneContent:
    size_hw = settings.scene.size
    near_far = (1.0 / settings.scene.near_m, 1.0 / settings.scene.far_m)
    if spec.procedural:
        hard = settings.scene.kind == SceneKind.hard
        make = random_hard_scene if hard else random_layered_scene
        layered = make(
            size_hw,
            generator=generator,
            min_layers=settings.scene.min_layers,
            max_layers=settings.scene.max_layers,
        )
        source = {"kind": "procedural", "index": spec.index, "layers": [layer.disparity for layer in layered.layers]}
        if hard:  # absent: layered, as in datasets made before scene.kind
            source["scene_kind"] = SceneKind.hard.value
        return SceneContent(layered.pinhole_image(), layered.disparity_map(), near_far, source, layered)
    assert spec.image_path is not None
    photo = read_image(Path(spec.image_path))
    notes: tuple[str, ...] = ()
    if spec.depth_path is not None:
        depth = read_depth_file(Path(spec.depth_path), size_hw=(photo.height, photo.width))
    else:
        from refocus_cli.depth.choose import DepthRequest, choose_depth
        from refocus_cli.focus import FocusSpec

        depth, found_notes = choose_depth(DepthRequest(Path(spec.image_path), device=str(device)), photo, FocusSpec())
        notes = tuple(found_notes)
    if depth.metric_depth_m is not None:
        metric = depth.metric_depth_m
        near_far = (1.0 / float(metric.min()), 1.0 / float(metric.max()))
    source = {"kind": "photo", "image": spec.image_path, "depth": depth.source}
    image, disparity = (_crop_resize(x.to(device), size_hw) for x in (photo.linear, depth.disparity))
    return SceneContent(image.clamp_min(0), disparity.clamp(0, 1), near_far, source, None, notes)


def _crop_resize(image: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """[1,C,h,w] cropped about its centre to the aspect of `size_hw` and resized to it (antialiased)."""
    h, w = image.shape[-2:]
    target_h, target_w = size_hw
    crop_h, crop_w = min(h, round(w * target_h / target_w)), min(w, round(h * target_w / target_h))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    cropped = image[..., top : top + crop_h, left : left + crop_w]
    if (crop_h, crop_w) == (target_h, target_w):
        return cropped
    return F.interpolate(cropped, size=size_hw, mode="bilinear", antialias=True, align_corners=False)


@dataclass(frozen=True)
class _Scene:
    """A scene ready to sample: its content, the disparity range focus planes are drawn from, its folder."""

    spec: SceneSpec
    settings: SimulationSettings
    content: SceneContent
    focus_range: tuple[float, float]

    @property
    def folder(self) -> str:
        return f"scenes/{self.spec.scene_id}"


@dataclass(frozen=True)
class _Sample:
    """One sample's files (name in the scene folder -> bytes) and its manifest row."""

    files: dict[str, bytes]
    row: dict[str, Any]


Lens = tuple[float, float, float] | float
"""K (blur mode k), or a camera's (f-number, focal length mm, sensor width mm) (mode physical)."""


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))


def _focus(scene: _Scene, generator: torch.Generator) -> float:
    low, high = scene.focus_range
    return low + (high - low) * _uniform(generator)


def _aperture(settings: SimulationSettings, generator: torch.Generator) -> ApertureShape:
    sampled = settings.aperture
    shape = str(sampled.shape.sample(generator))
    blades = int(sampled.blades.sample(generator))
    rotation = float(sampled.rotation_deg.sample(generator))
    if shape == "disc":
        return ApertureShape()
    return ApertureShape(kind="polygon", blades=blades, rotation_deg=rotation)


def _lens(settings: SimulationSettings, generator: torch.Generator) -> Lens:
    blur = settings.blur
    if blur.mode == "k":
        return float(blur.k.sample(generator))
    return (
        float(blur.fnumber.sample(generator)),
        float(blur.focal_length_mm.sample(generator)),
        float(blur.sensor_width_mm.sample(generator)),
    )


def _blurs(scene: _Scene, lens: Lens, focus: list[float]) -> list[Blur]:
    """The blur of each render focused at `focus` with one lens (a camera stopped down once for all)."""
    if isinstance(lens, float):
        return [Blur(lens) for _ in focus]
    f_number, focal_mm, sensor_mm = lens
    inverse_near, inverse_far = scene.content.inverse_depth_range
    width = scene.settings.scene.size[1]
    cameras = []
    for d in focus:
        inverse_focus = inverse_far + d * (inverse_near - inverse_far)
        distance_m = max(1.0 / max(inverse_focus, 1e-9), 2.0 * focal_mm / 1000.0)
        cameras.append(CameraSettings(f_number, focal_mm, sensor_mm, distance_m))
    ks = [camera.blur_k_per_inverse_m(width) * (inverse_near - inverse_far) for camera in cameras]
    stop = max(1.0, max(ks) / scene.settings.blur.max_k)
    if stop == 1.0:
        return [Blur(k, camera) for k, camera in zip(ks, cameras, strict=True)]
    return [
        Blur(k / stop, replace(camera, f_number=f_number * stop), f_number)
        for k, camera in zip(ks, cameras, strict=True)
    ]


def _render(
    scene: _Scene, focus: float, blur: Blur, aperture: ApertureShape, generator: torch.Generator
) -> tuple[torch.Tensor, int | None]:
    """[1,3,H,W] linear, and the reference renderer's aperture samples (None for the engine)."""
    content = scene.content
    if content.layered is None:
        return render_layered(content.all_in_focus, signed_coc_px(content.disparity, focus, blur.k_px), aperture), None
    largest = max(abs(blur.k_px * (layer.disparity - focus)) for layer in content.layered.layers)
    samples = min(aperture_samples_for(largest), scene.settings.render.max_aperture_samples)
    image = render_reference(content.layered, focus, blur.k_px, aperture=aperture, samples=samples, generator=generator)
    return image, samples


def _rendered(
    scene: _Scene, name: str, focus: float, blur: Blur, aperture: ApertureShape, generator: torch.Generator
) -> tuple[bytes, dict[str, Any]]:
    """One render's PNG and its record in the manifest row."""
    image, samples = _render(scene, focus, blur, aperture, generator)
    record = {
        "image": f"{scene.folder}/{name}",
        "all_in_focus": False,
        "focus_disparity": focus,
        **blur.to_record(),
        "aperture_samples": samples,
    }
    return _png_rgb(image, scene.settings.render.bit_depth), record


def _pair(scene: _Scene, index: int, generator: torch.Generator) -> _Sample:
    """A source/target pair: one aperture; the source the all-in-focus image or its own focus and blur."""
    aperture = _aperture(scene.settings, generator)
    name, files = f"pair-{index:03d}", {}
    if _uniform(generator) < scene.settings.pairs.all_in_focus_source:
        source = {"image": f"{scene.folder}/all_in_focus.png", "all_in_focus": True, "focus_disparity": None}
        source |= {**Blur(0.0).to_record(), "aperture_samples": None}
    else:
        focus = _focus(scene, generator)
        blur = _blurs(scene, _lens(scene.settings, generator), [focus])[0]
        files[f"{name}-source.png"], source = _rendered(scene, f"{name}-source.png", focus, blur, aperture, generator)
    focus = _focus(scene, generator)
    blur = _blurs(scene, _lens(scene.settings, generator), [focus])[0]
    files[f"{name}-target.png"], target = _rendered(scene, f"{name}-target.png", focus, blur, aperture, generator)
    row = {"kind": "pair", "id": f"{scene.spec.scene_id}/{name}", **_common(scene, aperture)}
    return _Sample(files, row | {"input": source, "target": target})


def _stack(scene: _Scene, generator: torch.Generator) -> _Sample:
    """The stacking group: frames focused over the depth range (nearest first) with one lens and aperture,
    each frame's in-focus mask, and the frames blended by their masks.

    With `stack.capture = "camera"` the frames written are the ideal ones as a camera captures them
    (`capture.py`; drawn after every render, so the renders are the ideal group's) and the masks and the
    composite stay the ideal truth."""
    settings = scene.settings
    aperture = _aperture(settings, generator)
    low, high = scene.focus_range
    count = settings.stack.frames
    focus = [high - (high - low) * i / (count - 1) for i in range(count)]
    blurs = _blurs(scene, _lens(settings, generator), focus)
    masks = in_focus_masks(scene.content.disparity, torch.tensor(focus), softness=settings.stack.softness)
    renders = [_render(scene, d, blur, aperture, generator) for d, blur in zip(focus, blurs, strict=True)]
    captures = draw_captures(count, generator) if settings.stack.capture == StackCapture.camera else None
    files, records = {}, []
    for i, (d, blur) in enumerate(zip(focus, blurs, strict=True)):
        ideal, samples = renders[i]
        image = ideal if captures is None else capture_frame(ideal, captures[i])
        files[f"stack-{i:02d}.png"] = _png_rgb(image, settings.render.bit_depth)
        files[f"stack-mask-{i:02d}.png"] = _png_grey8(masks[:, i : i + 1])
        records.append(
            {
                "image": f"{scene.folder}/stack-{i:02d}.png",
                "mask": f"{scene.folder}/stack-mask-{i:02d}.png",
                "focus_disparity": d,
                **blur.to_record(),
                "aperture_samples": samples,
                **({} if captures is None else captures[i].to_record()),
            }
        )
    composite = blend_stack(torch.cat([ideal for ideal, _ in renders]).unsqueeze(0), masks)
    files["stack-composite.png"] = _png_rgb(composite, settings.render.bit_depth)
    row = {"kind": "stack", "id": f"{scene.spec.scene_id}/stack", **_common(scene, aperture), "frames": records}
    if captures is not None:
        row["capture"] = StackCapture.camera.value
    return _Sample(
        files, row | {"composite": f"{scene.folder}/stack-composite.png", "mask_softness": settings.stack.softness}
    )


def _common(scene: _Scene, aperture: ApertureShape) -> dict[str, Any]:
    """The row keys every sample of the scene shares."""
    h, w = scene.settings.scene.size
    return {
        "scene": scene.spec.scene_id,
        "split": scene.spec.split,
        "seed": scene.spec.seed,
        "source": scene.content.source,
        "size": [h, w],
        "renderer": "layered" if scene.content.layered is None else "reference",
        "aperture": {
            "shape": aperture.kind,
            "blades": aperture.blades if aperture.kind == "polygon" else None,
            "rotation_deg": aperture.rotation_deg if aperture.kind == "polygon" else None,
        },
        "all_in_focus": f"{scene.folder}/all_in_focus.png",
        "depth": f"{scene.folder}/depth.png",
        "notes": list(scene.content.notes),
    }


def _png_rgb(linear: torch.Tensor, bit_depth: int) -> bytes:
    """[1,3,H,W] linear light as an sRGB PNG of `bit_depth` bits."""
    pixels = encode_srgb(linear.cpu(), bit_depth)
    if bit_depth == 16:
        return png16_bytes(pixels)
    return _png_bytes(Image.fromarray(pixels))


def _png_grey16(values: torch.Tensor) -> bytes:
    """[1,1,H,W] in [0, 1] as a 16-bit grey PNG (0..65535)."""
    codes = (values[0, 0].cpu().clamp(0, 1) * 65535.0).round().numpy().astype(np.uint16)
    return _png_bytes(Image.fromarray(codes))


def _png_grey8(values: torch.Tensor) -> bytes:
    """[1,1,H,W] in [0, 1] as an 8-bit grey PNG."""
    codes = (values[0, 0].cpu().clamp(0, 1) * 255.0).round().numpy().astype(np.uint8)
    return _png_bytes(Image.fromarray(codes))


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
