"""Random layered scenes with exact ground truth, for tests and benchmarks.

A scene is a stack of fronto-parallel RGBA layers, each at one disparity, over an opaque background:
textured shapes (noise, sharp gratings, checkers), hard and antialiased edges, and small bright lights
(linear values above 1, so bokeh balls show).  Its pinhole (all-in-focus) image and disparity map are the
input a renderer gets; the reference renderer gives the truth at any focus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Layer:
    """One fronto-parallel plane: premultiplied linear colour [1,3,H,W], alpha [1,1,H,W], disparity in [0,1]."""

    premultiplied: torch.Tensor
    alpha: torch.Tensor
    disparity: float


@dataclass(frozen=True)
class LayeredScene:
    """Layers ordered nearest first; the last one is the opaque background."""

    layers: tuple[Layer, ...]

    @property
    def size_hw(self) -> tuple[int, int]:
        h, w = self.layers[0].alpha.shape[-2:]
        return int(h), int(w)

    def pinhole_image(self) -> torch.Tensor:
        """The all-in-focus image [1,3,H,W]: the layers composited front to back, unshifted."""
        colour = torch.zeros_like(self.layers[0].premultiplied)
        transmittance = torch.ones_like(self.layers[0].alpha)
        for layer in self.layers:
            colour = colour + transmittance * layer.premultiplied
            transmittance = transmittance * (1.0 - layer.alpha)
        return colour

    def disparity_map(self) -> torch.Tensor:
        """[1,1,H,W] disparity of the layer that contributes most to each pixel (exact away from edges)."""
        best_weight = torch.full_like(self.layers[0].alpha, -1.0)
        disparity = torch.zeros_like(self.layers[0].alpha)
        transmittance = torch.ones_like(self.layers[0].alpha)
        for layer in self.layers:
            weight = transmittance * layer.alpha
            take = weight > best_weight
            disparity = torch.where(take, torch.full_like(disparity, layer.disparity), disparity)
            best_weight = torch.where(take, weight, best_weight)
            transmittance = transmittance * (1.0 - layer.alpha)
        return disparity


def _texture(h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """[1,3,H,W] linear colour with fine detail: a random mix of noise, a sharp grating and a checker."""
    base = 0.05 + 0.6 * torch.rand(1, 3, 1, 1, generator=generator)
    other = 0.05 + 0.6 * torch.rand(1, 3, 1, 1, generator=generator)
    ys = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    kind = int(torch.randint(0, 3, (1,), generator=generator))
    if kind == 0:  # sharp grating at a random angle and period
        angle = float(torch.rand(1, generator=generator)) * math.pi
        period = 2.0 + 6.0 * float(torch.rand(1, generator=generator))
        phase = (xs * math.cos(angle) + ys * math.sin(angle)) / period
        pattern = (torch.sin(2 * math.pi * phase) > 0).float()
    elif kind == 1:  # checker
        cell = int(torch.randint(2, 7, (1,), generator=generator))
        pattern = (((ys // cell) + (xs // cell)) % 2).float()
    else:  # blotchy noise: fine noise plus a coarser field
        fine = torch.rand(1, 1, h, w, generator=generator)
        coarse = F.interpolate(
            torch.rand(1, 1, h // 8 + 2, w // 8 + 2, generator=generator),
            size=(h, w),
            mode="bilinear",
            align_corners=False,
        )
        pattern = (0.5 * fine + 0.5 * coarse).clamp(0, 1)
    grain = 0.15 * (torch.rand(1, 1, h, w, generator=generator) - 0.5)
    return (base + (other - base) * pattern + grain).clamp_min(0.0)


def _shape_mask(h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """[1,1,H,W] antialiased alpha of a random disc, rectangle or rotated polygon (4x supersampled)."""
    s = 4
    ys = (torch.arange(h * s, dtype=torch.float32) + 0.5) / s
    xs = (torch.arange(w * s, dtype=torch.float32) + 0.5) / s
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    cx, cy = float(torch.rand(1, generator=generator)) * w, float(torch.rand(1, generator=generator)) * h
    size = (0.12 + 0.25 * float(torch.rand(1, generator=generator))) * min(h, w)
    kind = int(torch.randint(0, 3, (1,), generator=generator))
    if kind == 0:
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= size**2
    elif kind == 1:
        aspect = 0.4 + 1.2 * float(torch.rand(1, generator=generator))
        inside = ((xx - cx).abs() <= size * aspect) & ((yy - cy).abs() <= size / aspect)
    else:
        sides = int(torch.randint(3, 8, (1,), generator=generator))
        rotation = float(torch.rand(1, generator=generator)) * 2 * math.pi
        inside = torch.ones_like(xx, dtype=torch.bool)
        for k in range(sides):
            angle = rotation + 2 * math.pi * k / sides
            inside &= (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle) <= size * math.cos(math.pi / sides)
    return F.avg_pool2d(inside.float()[None, None], s)


def _bright_lights(h: int, w: int, generator: torch.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Small bright dots: (linear colour [1,3,H,W] up to ~8, alpha [1,1,H,W])."""
    colour = torch.zeros(1, 3, h, w)
    alpha = torch.zeros(1, 1, h, w)
    for _ in range(count):
        y = int(torch.randint(1, h - 1, (1,), generator=generator))
        x = int(torch.randint(1, w - 1, (1,), generator=generator))
        tint = 0.5 + 0.5 * torch.rand(3, generator=generator)
        gain = 2.0 + 6.0 * float(torch.rand(1, generator=generator))
        colour[0, :, y : y + 2, x : x + 2] = (tint * gain).view(3, 1, 1)
        alpha[0, :, y : y + 2, x : x + 2] = 1.0
    return colour, alpha


def random_layered_scene(
    size_hw: tuple[int, int] = (192, 256),
    *,
    generator: torch.Generator,
    min_layers: int = 3,
    max_layers: int = 7,
    lights_per_layer: int = 3,
) -> LayeredScene:
    """A random scene of 3-7 textured layers over a textured background, nearest first.

    Disparities are spread over [0, 1]: the background sits in [0, 0.15], the layers above it.
    """
    h, w = size_hw
    count = int(torch.randint(min_layers, max_layers + 1, (1,), generator=generator))
    disparities = sorted((0.2 + 0.8 * torch.rand(count, generator=generator)).tolist(), reverse=True)
    layers = []
    for disparity in disparities:
        alpha = _shape_mask(h, w, generator)
        colour = _texture(h, w, generator)
        light_colour, light_alpha = _bright_lights(h, w, generator, lights_per_layer)
        colour = torch.where(light_alpha > 0, light_colour, colour)
        layers.append(Layer(colour * alpha, alpha, float(disparity)))
    background = _texture(h, w, generator)
    light_colour, light_alpha = _bright_lights(h, w, generator, 2 * lights_per_layer)
    background = torch.where(light_alpha > 0, light_colour, background)
    back_disparity = 0.15 * float(torch.rand(1, generator=generator))
    layers.append(Layer(background, torch.ones(1, 1, h, w), back_disparity))
    return LayeredScene(tuple(layers))
