"""Hard random layered scenes: many overlapping layers, big depth jumps side by side, thin structures, fine
texture everywhere and bright lights just behind edges.  Exact truth comes from `render.reference` as for
`random_layered_scene`; the fidelity, restore and fusion benchmarks are judged on these scenes.

Every foreground layer holds one filled shape plus thin structures of one kind: straight wires across the frame
(0.6-2 px wide, so every layer overlaps the others), branching twigs (random walks that fork) or text-like
strokes (short strokes in lines, like glyphs).  Disparities are stratified over [0.2, 1] (one per stratum) over a
background at [0, 0.1], so wires of the nearest layers cross the background and the far layers: depth jumps of
up to 0.9 side by side.

Calibration (README, "Fidelity"): the strengths below are set so that on the fidelity set (8 scenes of 192x256,
K 6, 12 and 20, the exact reference as truth) a naive per-pixel gather scores about 37 dB and a plain 32-layer
FFT renderer about 38.5 dB, where the older `random_layered_scene`s let the gather reach about 42 dB.  Real
photos sit there: the first drafts of these scenes (three lights of gain 3-10 a layer, two kinds of thin
structure, twigs of 400 segments) put the gather at 33 dB, below what any renderer reaches from one RGBD photo,
since the hidden background behind a blurred wire is not in the input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from refocus_cli.render.scenes import Layer, LayeredScene, _shape_mask, _texture

WIRE_WIDTH_PX = (0.6, 2.0)
WIRE_COUNT = (2, 4)
"""Width range and count range (per layer that has wires) of the straight wires."""
LIGHT_GAIN = (1.5, 4.0)
"""Linear brightness range of the lights behind edges (1 = white)."""
GRATING_CONTRAST = (0.1, 0.35)
GRATING_PERIOD_PX = (2.0, 4.0)
"""Contrast and period range of the fine grating laid over every layer's texture."""
MAX_KINDS = 1
"""Kinds of thin structure (wires, twigs, strokes) per layer, at most."""
TWIG_SEGMENTS = 150
"""Segments of a branching twig, at most."""


def _segments_alpha(h: int, w: int, segments: list[tuple[float, float, float, float, float]]) -> torch.Tensor:
    """[1,1,H,W] antialiased union of line segments (x0, y0, x1, y1, width px), each drawn in its own box."""
    alpha = torch.zeros(h, w)
    for x0, y0, x1, y1, width in segments:
        reach = width / 2 + 1
        top, bottom = max(0, math.floor(min(y0, y1) - reach)), min(h, math.ceil(max(y0, y1) + reach) + 1)
        left, right = max(0, math.floor(min(x0, x1) - reach)), min(w, math.ceil(max(x0, x1) + reach) + 1)
        if bottom <= top or right <= left:
            continue
        ys = torch.arange(top, bottom, dtype=torch.float32).view(-1, 1) + 0.5
        xs = torch.arange(left, right, dtype=torch.float32).view(1, -1) + 0.5
        dx, dy = x1 - x0, y1 - y0
        length2 = max(dx * dx + dy * dy, 1e-9)
        t = (((xs - x0) * dx + (ys - y0) * dy) / length2).clamp(0.0, 1.0)
        distance = torch.sqrt((xs - x0 - t * dx) ** 2 + (ys - y0 - t * dy) ** 2)
        cover = (width / 2 + 0.5 - distance).clamp(0.0, 1.0)
        alpha[top:bottom, left:right] = torch.maximum(alpha[top:bottom, left:right], cover)
    return alpha[None, None]


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator))


def _wires(h: int, w: int, generator: torch.Generator) -> list[tuple[float, float, float, float, float]]:
    """`WIRE_COUNT` straight wires across the whole frame, `WIRE_WIDTH_PX` wide."""
    wires = []
    for _ in range(int(torch.randint(WIRE_COUNT[0], WIRE_COUNT[1] + 1, (1,), generator=generator))):
        angle = _uniform(generator, 0.0, math.pi)
        cx, cy = _uniform(generator, 0, w), _uniform(generator, 0, h)
        half = 2 * max(h, w)
        dx, dy = math.cos(angle) * half, math.sin(angle) * half
        wires.append((cx - dx, cy - dy, cx + dx, cy + dy, _uniform(generator, *WIRE_WIDTH_PX)))
    return wires


def _twigs(h: int, w: int, generator: torch.Generator) -> list[tuple[float, float, float, float, float]]:
    """A branching random walk from a frame edge: steps of 3-8 px, forks thinner than their parent."""
    segments: list[tuple[float, float, float, float, float]] = []
    stack = [(_uniform(generator, 0, w), float(h), -math.pi / 2 + _uniform(generator, -0.4, 0.4), 3.0, 0)]
    while stack and len(segments) < TWIG_SEGMENTS:
        x, y, heading, width, depth = stack.pop()
        for _ in range(int(torch.randint(8, 20, (1,), generator=generator))):
            heading += _uniform(generator, -0.35, 0.35)
            step = _uniform(generator, 3.0, 8.0)
            nx, ny = x + step * math.cos(heading), y + step * math.sin(heading)
            segments.append((x, y, nx, ny, width))
            x, y = nx, ny
            if depth < 3 and float(torch.rand(1, generator=generator)) < 0.15:
                turn = _uniform(generator, 0.4, 1.0) * (1 if float(torch.rand(1, generator=generator)) < 0.5 else -1)
                stack.append((x, y, heading + turn, max(0.7, width * 0.7), depth + 1))
    return segments


def _strokes(h: int, w: int, generator: torch.Generator) -> list[tuple[float, float, float, float, float]]:
    """Text-like lines: glyphs of 2-4 short strokes in a cell of 6-12 px, in 1-3 lines of text."""
    segments = []
    cell = _uniform(generator, 6.0, 12.0)
    width = _uniform(generator, 0.8, 1.6)
    for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
        x, y = _uniform(generator, 0, 0.5 * w), _uniform(generator, 0.1 * h, 0.9 * h)
        for _ in range(int(torch.randint(6, 20, (1,), generator=generator))):
            for _ in range(int(torch.randint(2, 5, (1,), generator=generator))):
                points = [
                    (x + cell * 0.8 * float(v), y + cell * float(u)) for u, v in torch.rand(2, 2, generator=generator)
                ]
                segments.append((points[0][0], points[0][1], points[1][0], points[1][1], width))
            x += cell
    return segments


def _fine_texture(h: int, w: int, generator: torch.Generator, pixel_scale: float = 1.0) -> torch.Tensor:
    """[1,3,H,W] a `_texture` with a fine grating (period `GRATING_PERIOD_PX` times `pixel_scale`) of random
    contrast laid over it."""
    colour = _texture(h, w, generator)
    ys = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    angle, period = _uniform(generator, 0, math.pi), pixel_scale * _uniform(generator, *GRATING_PERIOD_PX)
    grating = torch.sin(2 * math.pi * (xs * math.cos(angle) + ys * math.sin(angle)) / period)
    return (colour * (1 + _uniform(generator, *GRATING_CONTRAST) * grating)).clamp_min(0.0)


def _lights_behind_edges(
    nearer_alpha: torch.Tensor, generator: torch.Generator, count: int, pixel_scale: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright dots of 2x2 px (linear colour [1,3,H,W] of `LIGHT_GAIN`, alpha [1,1,H,W]) 1-4 px outside the
    edges of `nearer_alpha` (sizes times `pixel_scale`)."""
    h, w = nearer_alpha.shape[-2:]
    colour, alpha = torch.zeros(1, 3, h, w), torch.zeros(1, 1, h, w)
    solid = (nearer_alpha > 0.5).float()
    outer, inner, dot = 4 * pixel_scale, pixel_scale, 2 * pixel_scale
    ring = F.max_pool2d(solid, 2 * outer + 1, stride=1, padding=outer) - F.max_pool2d(
        solid, 2 * inner + 1, stride=1, padding=inner
    )
    ring = ring.flatten()
    places = ring.nonzero().flatten()
    if places.numel() == 0:
        return colour, alpha
    for pick in torch.randint(0, places.numel(), (count,), generator=generator).tolist():
        y, x = divmod(int(places[pick]), w)
        y, x = min(y, h - dot), min(x, w - dot)
        gain = _uniform(generator, *LIGHT_GAIN)
        colour[0, :, y : y + dot, x : x + dot] = ((0.6 + 0.4 * torch.rand(3, generator=generator)) * gain).view(3, 1, 1)
        alpha[0, :, y : y + dot, x : x + dot] = 1.0
    return colour, alpha


def random_hard_scene(
    size_hw: tuple[int, int] = (192, 256),
    *,
    generator: torch.Generator,
    min_layers: int = 5,
    max_layers: int = 9,
    lights_per_layer: int = 1,
    pixel_scale: int = 1,
    thin_share: float = 1.0,
) -> LayeredScene:
    """A random hard scene of 5-9 layers (the background included), nearest first.

    Args:
        size_hw: (height, width) in pixels.
        generator: all randomness comes from it (the same seed gives the same scene).
        min_layers, max_layers: layer count, the opaque background included.
        lights_per_layer: bright dots per layer placed just outside nearer layers' edges.
        pixel_scale: the scene's pixels per pixel of the image it stands for: thin structures, gratings and
            lights are drawn this many times larger (a scene made at twice a frame's size and area-averaged
            down to it keeps the frame's feature sizes with pixel_scale 2).
        thin_share: the chance that a foreground layer carries thin structures (1: every layer does, and no
            draw is made for it, so scenes made before this option are unchanged).

    Returns:
        LayeredScene; the background's disparity is in [0, 0.1], the others stratified over [0.2, 1].

    >>> scene = random_hard_scene((32, 48), generator=torch.Generator().manual_seed(0))
    >>> 5 <= len(scene.layers) <= 9, scene.size_hw
    (True, (32, 48))
    """
    h, w = size_hw
    count = int(torch.randint(min_layers - 1, max_layers, (1,), generator=generator))
    strata = (torch.arange(count, dtype=torch.float32) + 0.2 + 0.6 * torch.rand(count, generator=generator)) / count
    disparities = sorted((0.2 + 0.8 * strata).tolist(), reverse=True)
    makers = (_wires, _twigs, _strokes)
    layers = []
    nearer_alpha = torch.zeros(1, 1, h, w)
    for disparity in disparities:
        shape = _shape_mask(h, w, generator)
        kinds = torch.randperm(3, generator=generator)[
            : int(torch.randint(1, MAX_KINDS + 1, (1,), generator=generator))
        ]
        if thin_share < 1.0 and float(torch.rand(1, generator=generator)) >= thin_share:
            kinds = kinds[:0]
        segments = [
            (x0 * pixel_scale, y0 * pixel_scale, x1 * pixel_scale, y1 * pixel_scale, width * pixel_scale)
            for k in kinds.tolist()
            for x0, y0, x1, y1, width in makers[k](h // pixel_scale, w // pixel_scale, generator)
        ]
        alpha = torch.maximum(shape, _segments_alpha(h, w, segments))
        colour = _fine_texture(h, w, generator, pixel_scale)
        light_colour, light_alpha = _lights_behind_edges(nearer_alpha, generator, lights_per_layer, pixel_scale)
        colour = torch.where(light_alpha > 0, light_colour, colour)
        alpha = torch.maximum(alpha, light_alpha)
        layers.append(Layer(colour * alpha, alpha, float(disparity)))
        nearer_alpha = 1.0 - (1.0 - nearer_alpha) * (1.0 - alpha)
    background = _fine_texture(h, w, generator, pixel_scale)
    light_colour, light_alpha = _lights_behind_edges(nearer_alpha, generator, 2 * lights_per_layer, pixel_scale)
    background = torch.where(light_alpha > 0, light_colour, background)
    layers.append(Layer(background, torch.ones(1, 1, h, w), 0.1 * float(torch.rand(1, generator=generator))))
    return LayeredScene(tuple(layers))
