"""Hard random layered scenes: many overlapping layers, big depth jumps side by side, thin structures, fine
texture everywhere and bright lights just behind edges.  Exact truth comes from `render.reference` as for
`random_layered_scene`; these are the scenes restore (and later fidelity and fusion) are judged on.

Every foreground layer holds one filled shape plus thin structures of one or two kinds: straight wires across
the frame (0.6-2 px wide, so every layer overlaps the others), branching twigs (random walks that fork) or
text-like strokes (short strokes in lines, like glyphs).  Disparities are stratified over [0.2, 1] (one per
stratum) over a background at [0, 0.1], so wires of the nearest layers cross the background and the far
layers: depth jumps of up to 0.9 side by side.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from refocus_cli.render.scenes import Layer, LayeredScene, _shape_mask, _texture

WIRE_WIDTH_PX = (0.6, 2.0)
LIGHT_GAIN = (3.0, 10.0)
GRATING_CONTRAST = (0.1, 0.35)
MAX_KINDS = 2
TWIG_SEGMENTS = 400
GRATING_PERIOD_PX = (2.0, 4.0)


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
    """2-4 straight wires across the whole frame, `WIRE_WIDTH_PX` wide."""
    wires = []
    for _ in range(int(torch.randint(2, 5, (1,), generator=generator))):
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


def _fine_texture(h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """[1,3,H,W] a `_texture` with a fine grating (period 2-4 px) of random contrast laid over it."""
    colour = _texture(h, w, generator)
    ys = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    angle, period = _uniform(generator, 0, math.pi), _uniform(generator, *GRATING_PERIOD_PX)
    grating = torch.sin(2 * math.pi * (xs * math.cos(angle) + ys * math.sin(angle)) / period)
    return (colour * (1 + _uniform(generator, *GRATING_CONTRAST) * grating)).clamp_min(0.0)


def _lights_behind_edges(
    nearer_alpha: torch.Tensor, generator: torch.Generator, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright dots (linear colour [1,3,H,W] up to ~10, alpha [1,1,H,W]) 1-4 px outside the edges of `nearer_alpha`."""
    h, w = nearer_alpha.shape[-2:]
    colour, alpha = torch.zeros(1, 3, h, w), torch.zeros(1, 1, h, w)
    solid = (nearer_alpha > 0.5).float()
    ring = (F.max_pool2d(solid, 9, stride=1, padding=4) - F.max_pool2d(solid, 3, stride=1, padding=1)).flatten()
    places = ring.nonzero().flatten()
    if places.numel() == 0:
        return colour, alpha
    for pick in torch.randint(0, places.numel(), (count,), generator=generator).tolist():
        y, x = divmod(int(places[pick]), w)
        y, x = min(y, h - 2), min(x, w - 2)
        gain = _uniform(generator, *LIGHT_GAIN)
        colour[0, :, y : y + 2, x : x + 2] = ((0.6 + 0.4 * torch.rand(3, generator=generator)) * gain).view(3, 1, 1)
        alpha[0, :, y : y + 2, x : x + 2] = 1.0
    return colour, alpha


def random_hard_scene(
    size_hw: tuple[int, int] = (192, 256),
    *,
    generator: torch.Generator,
    min_layers: int = 5,
    max_layers: int = 9,
    lights_per_layer: int = 3,
) -> LayeredScene:
    """A random hard scene of 5-9 layers (the background included), nearest first.

    Args:
        size_hw: (height, width) in pixels.
        generator: all randomness comes from it (the same seed gives the same scene).
        min_layers, max_layers: layer count, the opaque background included.
        lights_per_layer: bright dots per layer placed just outside nearer layers' edges.

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
        kinds = torch.randperm(3, generator=generator)[: int(torch.randint(1, MAX_KINDS + 1, (1,), generator=generator))]
        segments = [s for k in kinds.tolist() for s in makers[k](h, w, generator)]
        alpha = torch.maximum(shape, _segments_alpha(h, w, segments))
        colour = _fine_texture(h, w, generator)
        light_colour, light_alpha = _lights_behind_edges(nearer_alpha, generator, lights_per_layer)
        colour = torch.where(light_alpha > 0, light_colour, colour)
        alpha = torch.maximum(alpha, light_alpha)
        layers.append(Layer(colour * alpha, alpha, float(disparity)))
        nearer_alpha = 1.0 - (1.0 - nearer_alpha) * (1.0 - alpha)
    background = _fine_texture(h, w, generator)
    light_colour, light_alpha = _lights_behind_edges(nearer_alpha, generator, 2 * lights_per_layer)
    background = torch.where(light_alpha > 0, light_colour, background)
    layers.append(Layer(background, torch.ones(1, 1, h, w), 0.1 * float(torch.rand(1, generator=generator))))
    return LayeredScene(tuple(layers))
