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
from dataclasses import dataclass, field, replace
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
from refocus_cli.render.layered import render_layered
from refocus_cli.render.reference import aperture_samples_for, render_reference
from refocus_cli.render.scenes import LayeredScene, random_layered_scene
from refocus_cli.simulate.settings import SimulationSettings
from refocus_cli.simulate.sources import SceneSpec
from refocus_cli.stack.stacking import blend_stack, in_focus_masks

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
    files: dict[str, bytes] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


def simulate_scene(spec: SceneSpec, settings: SimulationSettings, *, device: str = "cpu") -> SceneFiles:
    """Render and encode every sample of one scene (deterministic for its seed on one kind of device)."""
    generator = torch.Generator().manual_seed(spec.seed)
    content = _scene_content(spec, settings, generator, torch.device(device))
    scene = _SceneWriter(spec, settings, content, generator)
    for pair in range(spec.pairs):
        scene.add_pair(pair)
    scene.add_stack()
    return scene.finish()


def _scene_content(
    spec: SceneSpec, settings: SimulationSettings, generator: torch.Generator, device: torch.device
) -> SceneContent:
    size_hw = settings.scene.size
    near_far = (1.0 / settings.scene.near_m, 1.0 / settings.scene.far_m)
    if spec.procedural:
        layered = random_layered_scene(
            size_hw,
            generator=generator,
            min_layers=settings.scene.min_layers,
            max_layers=settings.scene.max_layers,
        )
        source = {"kind": "procedural", "index": spec.index, "layers": [layer.disparity for layer in layered.layers]}
        return SceneContent(layered.pinhole_image(), layered.disparity_map(), near_far, source, layered)
    assert spec.image_path is not None
    photo = read_image(Path(spec.image_path))
    notes: tuple[str, ...] = ()
    if spec.depth_path is not None:
        depth = read_depth_file(Path(spec.depth_path), size_hw=(photo.height, photo.width))
    else:
        from refocus_cli.pipeline import ImageRequest, load_depth

        request = ImageRequest(Path(spec.image_path), Path(spec.image_path).with_suffix(".unused"), device=str(device))
        depth, found_notes = load_depth(request, photo)
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


class _SceneWriter:
    """Draws each sample's parameters in a fixed order from the scene's generator, renders and encodes."""

    def __init__(
        self, spec: SceneSpec, settings: SimulationSettings, content: SceneContent, generator: torch.Generator
    ) -> None:
        self.spec, self.settings, self.content, self.generator = spec, settings, content, generator
        self.folder = f"scenes/{spec.scene_id}"
        self.output = SceneFiles(spec.scene_id)
        disparity = content.disparity.flatten().float()
        low, high = settings.focus.quantiles
        self.focus_range = (float(torch.quantile(disparity, low)), float(torch.quantile(disparity, high)))
        self._add("all_in_focus.png", _png_rgb(content.all_in_focus, settings.render.bit_depth))
        self._add("depth.png", _png_grey16(content.disparity))

    # -- sampling
    def _uniform(self) -> float:
        return float(torch.rand((), generator=self.generator, dtype=torch.float64))

    def _focus(self) -> float:
        low, high = self.focus_range
        return low + (high - low) * self._uniform()

    def _aperture(self) -> ApertureShape:
        sampled = self.settings.aperture
        shape = str(sampled.shape.sample(self.generator))
        blades = int(sampled.blades.sample(self.generator))
        rotation = float(sampled.rotation_deg.sample(self.generator))
        if shape == "disc":
            return ApertureShape()
        return ApertureShape(kind="polygon", blades=blades, rotation_deg=rotation)

    def _lens(self) -> tuple[float, float, float] | float:
        """K (mode k), or a camera's (f-number, focal length mm, sensor width mm) (mode physical)."""
        blur = self.settings.blur
        if blur.mode == "k":
            return float(blur.k.sample(self.generator))
        return (
            float(blur.fnumber.sample(self.generator)),
            float(blur.focal_length_mm.sample(self.generator)),
            float(blur.sensor_width_mm.sample(self.generator)),
        )

    def _blurs(self, lens: tuple[float, float, float] | float, focus: list[float]) -> list[Blur]:
        """The blur of each render focused at `focus` with one lens (a camera stopped down once for all)."""
        if isinstance(lens, float):
            return [Blur(lens) for _ in focus]
        f_number, focal_mm, sensor_mm = lens
        inverse_near, inverse_far = self.content.inverse_depth_range
        width = self.settings.scene.size[1]
        cameras = []
        for d in focus:
            inverse_focus = inverse_far + d * (inverse_near - inverse_far)
            distance_m = max(1.0 / max(inverse_focus, 1e-9), 2.0 * focal_mm / 1000.0)
            cameras.append(CameraSettings(f_number, focal_mm, sensor_mm, distance_m))
        ks = [camera.blur_k_per_inverse_m(width) * (inverse_near - inverse_far) for camera in cameras]
        stop = max(1.0, max(ks) / self.settings.blur.max_k)
        if stop == 1.0:
            return [Blur(k, camera) for k, camera in zip(ks, cameras, strict=True)]
        return [
            Blur(k / stop, replace(camera, f_number=f_number * stop), f_number)
            for k, camera in zip(ks, cameras, strict=True)
        ]

    # -- rendering
    def _render(self, focus: float, blur: Blur, aperture: ApertureShape) -> tuple[torch.Tensor, int | None]:
        """[1,3,H,W] linear, and the reference renderer's aperture samples (None for the engine)."""
        content = self.content
        if content.layered is None:
            coc = signed_coc_px(content.disparity, focus, blur.k_px)
            return render_layered(content.all_in_focus, coc, aperture), None
        largest = max(abs(blur.k_px * (layer.disparity - focus)) for layer in content.layered.layers)
        samples = min(aperture_samples_for(largest), self.settings.render.max_aperture_samples)
        image = render_reference(
            content.layered, focus, blur.k_px, aperture=aperture, samples=samples, generator=self.generator
        )
        return image, samples

    def _render_record(self, name: str, focus: float, blur: Blur, aperture: ApertureShape) -> dict[str, Any]:
        image, samples = self._render(focus, blur, aperture)
        self._add(name, _png_rgb(image, self.settings.render.bit_depth))
        return {
            "image": f"{self.folder}/{name}",
            "all_in_focus": False,
            "focus_disparity": focus,
            **blur.to_record(),
            "aperture_samples": samples,
        }

    def add_pair(self, index: int) -> None:
        aperture = self._aperture()
        all_in_focus_source = self._uniform() < self.settings.pairs.all_in_focus_source
        name = f"pair-{index:03d}"
        if all_in_focus_source:
            source = {
                "image": f"{self.folder}/all_in_focus.png",
                "all_in_focus": True,
                "focus_disparity": None,
                **Blur(0.0).to_record(),
                "aperture_samples": None,
            }
        else:
            focus = self._focus()
            source = self._render_record(f"{name}-source.png", focus, self._blurs(self._lens(), [focus])[0], aperture)
        focus = self._focus()
        target = self._render_record(f"{name}-target.png", focus, self._blurs(self._lens(), [focus])[0], aperture)
        self.output.rows.append(
            {
                "kind": "pair",
                "id": f"{self.spec.scene_id}/{name}",
                **self._common(aperture),
                "input": source,
                "target": target,
            }
        )

    def add_stack(self) -> None:
        frames_wanted = self.settings.stack.frames
        aperture = self._aperture()
        low, high = self.focus_range
        focus = [high - (high - low) * i / (frames_wanted - 1) for i in range(frames_wanted)]  # nearest first
        blurs = self._blurs(self._lens(), focus)
        masks = in_focus_masks(self.content.disparity, torch.tensor(focus), softness=self.settings.stack.softness)
        frames, records = [], []
        for i, (d, blur) in enumerate(zip(focus, blurs, strict=True)):
            image, samples = self._render(d, blur, aperture)
            frames.append(image)
            self._add(f"stack-{i:02d}.png", _png_rgb(image, self.settings.render.bit_depth))
            self._add(f"stack-mask-{i:02d}.png", _png_grey8(masks[:, i : i + 1]))
            records.append(
                {
                    "image": f"{self.folder}/stack-{i:02d}.png",
                    "mask": f"{self.folder}/stack-mask-{i:02d}.png",
                    "focus_disparity": d,
                    **blurs[i].to_record(),
                    "aperture_samples": samples,
                }
            )
        composite = blend_stack(torch.cat(frames).unsqueeze(0), masks)
        self._add("stack-composite.png", _png_rgb(composite, self.settings.render.bit_depth))
        self.output.rows.append(
            {
                "kind": "stack",
                "id": f"{self.spec.scene_id}/stack",
                **self._common(aperture),
                "frames": records,
                "composite": f"{self.folder}/stack-composite.png",
                "mask_softness": self.settings.stack.softness,
            }
        )

    def _common(self, aperture: ApertureShape) -> dict[str, Any]:
        h, w = self.settings.scene.size
        return {
            "scene": self.spec.scene_id,
            "split": self.spec.split,
            "seed": self.spec.seed,
            "source": self.content.source,
            "size": [h, w],
            "renderer": "layered" if self.content.layered is None else "reference",
            "aperture": {
                "shape": aperture.kind,
                "blades": aperture.blades if aperture.kind == "polygon" else None,
                "rotation_deg": aperture.rotation_deg if aperture.kind == "polygon" else None,
            },
            "all_in_focus": f"{self.folder}/all_in_focus.png",
            "depth": f"{self.folder}/depth.png",
            "notes": list(self.content.notes),
        }

    def _add(self, name: str, data: bytes) -> None:
        self.output.files[name] = data

    def finish(self) -> SceneFiles:
        record = {"scene": self.spec.scene_id, "index": self.spec.index, "rows": self.output.rows}
        self._add(SCENE_RECORD, (json.dumps(record, indent=None) + "\n").encode())
        return self.output


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
