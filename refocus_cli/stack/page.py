"""The interactive refocus page: one folder that works from file:// with no server and no network.

    <folder>/index.html      the page: the frame focused where you click, a focus slider, the focus shown
    <folder>/frames/NNN.jpg  the focal stack, nearest focus first
    <folder>/depth.js        a small disparity map (at most 256 px on its long side) as base64 bytes
    <folder>/depth.png       the same map as an image, for people

A click takes the median disparity in a 5x5 window of the small map around the point (as `refocus image
--focus` does) and shows the frame focused nearest it. Browsers refuse to read pixels of images loaded from
file:// (a canvas holding one is "tainted"), so the map travels as a script, not an image.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refocus_cli.io.atomic import atomic_folder

DEPTH_SIDE_PX = 256
"""Long side of the depth map the page carries."""
FRAME_QUALITY = 90


def small_disparity(disparity: torch.Tensor, side_px: int = DEPTH_SIDE_PX) -> np.ndarray:
    """[1,1,H,W] disparity in [0,1] -> [h,w] uint8 (255 = nearest), area-averaged to at most `side_px`."""
    h, w = disparity.shape[-2:]
    scale = min(1.0, side_px / max(h, w))
    small = F.interpolate(disparity.float().cpu(), scale_factor=scale, mode="area") if scale < 1 else disparity
    return np.round(small[0, 0].clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)


def page_html(title: str, frame_count: int, focus_disparities: list[float], size_wh: tuple[int, int]) -> str:
    """The page's HTML with its script; frames are `frames/NNN.jpg`, the map comes from depth.js."""
    names = [frame_name(i) for i in range(frame_count)]
    data = json.dumps({"frames": names, "focus": focus_disparities, "width": size_wh[0], "height": size_wh[1]})
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        PAGE_TEMPLATE.replace("__TITLE__", safe_title)
        .replace("__DATA__", data)
        .replace("__FIRST__", f"frames/{names[0]}")
    )


def frame_name(index: int) -> str:
    """`frames/` file name of frame `index`: 000.jpg, 001.jpg, ..."""
    return f"{index:03d}.jpg"


def write_page(
    folder: Path,
    frames_srgb: Iterable[np.ndarray],
    focus_disparities: list[float],
    disparity: torch.Tensor,
    *,
    title: str,
    overwrite: bool,
) -> Path:
    """Write the page folder atomically (a hidden temporary folder renamed into place); returns index.html.

    Args:
        folder: the folder to create.
        frames_srgb: [H,W,3] uint8 sRGB frames, nearest focus first (consumed one at a time).
        focus_disparities: each frame's focus disparity.
        disparity: [1,1,H,W] the depth used, 1 = nearest.
        title: shown in the page's title.
        overwrite: replace an existing folder.

    Raises:
        OutputError: the folder exists (without `overwrite`), is a file, or cannot be written.
    """
    folder = Path(folder)
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        (tmp / "frames").mkdir()
        count, size_wh = 0, (0, 0)
        for index, frame in enumerate(frames_srgb):
            Image.fromarray(frame).save(tmp / "frames" / frame_name(index), quality=FRAME_QUALITY)
            count, size_wh = index + 1, (frame.shape[1], frame.shape[0])
        if count != len(focus_disparities) or count == 0:
            raise ValueError(f"{count} frames for {len(focus_disparities)} focus disparities")
        small = small_disparity(disparity)
        Image.fromarray(small).save(tmp / "depth.png")
        payload = base64.b64encode(small.tobytes()).decode("ascii")
        (tmp / "depth.js").write_text(
            f'window.REFOCUS_DEPTH = {{"width": {small.shape[1]}, "height": {small.shape[0]}, "data": "{payload}"}};\n'
        )
        (tmp / "index.html").write_text(page_html(title, count, focus_disparities, size_wh), encoding="utf-8")
    return folder / "index.html"


PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ - refocus</title>
<style>
  body { margin: 0; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
  main { display: flex; flex-direction: column; align-items: center; gap: 10px; padding: 12px; }
  #photo { max-width: 100%; max-height: 80vh; cursor: crosshair; display: block; }
  #controls { display: flex; gap: 12px; align-items: center; width: min(100%, 720px); }
  #focus { flex: 1; }
  #status { min-width: 16em; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<main>
  <img id="photo" src="__FIRST__" alt="the photo, focused where you click" data-frame="0">
  <div id="controls">
    <span>near</span>
    <input id="focus" type="range" min="0" step="1" value="0" aria-label="focus">
    <span>far</span>
    <span id="status"></span>
  </div>
  <p>Click the photo to focus there; drag the slider or use the arrow keys to sweep the focus.</p>
</main>
<script src="depth.js"></script>
<script>
"use strict";
const STACK = __DATA__;
const photo = document.getElementById("photo");
const slider = document.getElementById("focus");
const statusText = document.getElementById("status");
const depth = decodeDepth(window.REFOCUS_DEPTH);
slider.max = String(STACK.frames.length - 1);
const preloaded = STACK.frames.map((name) => { const img = new Image(); img.src = "frames/" + name; return img; });

function decodeDepth(map) {
  const bytes = atob(map.data);
  const values = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) values[i] = bytes.charCodeAt(i);
  return { width: map.width, height: map.height, values };
}

function show(index, why) {
  photo.src = preloaded[index].src;
  photo.dataset.frame = String(index);
  slider.value = String(index);
  statusText.textContent = "focus d = " + STACK.focus[index].toFixed(3) + " (frame " + (index + 1) + " of "
    + STACK.frames.length + (why ? ", " + why : "") + ")";
}

function disparityAt(u, v) {
  // median of a 5x5 window of the small map around (u, v), in [0, 1]
  const cx = Math.min(depth.width - 1, Math.max(0, Math.floor(u * depth.width)));
  const cy = Math.min(depth.height - 1, Math.max(0, Math.floor(v * depth.height)));
  const window = [];
  for (let y = Math.max(0, cy - 2); y <= Math.min(depth.height - 1, cy + 2); y++)
    for (let x = Math.max(0, cx - 2); x <= Math.min(depth.width - 1, cx + 2); x++)
      window.push(depth.values[y * depth.width + x]);
  window.sort((a, b) => a - b);
  return window[window.length >> 1] / 255;
}

function nearestFrame(d) {
  let best = 0;
  for (let i = 1; i < STACK.focus.length; i++)
    if (Math.abs(STACK.focus[i] - d) < Math.abs(STACK.focus[best] - d)) best = i;
  return best;
}

photo.addEventListener("click", (event) => {
  const box = photo.getBoundingClientRect();
  const u = (event.clientX - box.left) / box.width, v = (event.clientY - box.top) / box.height;
  const d = disparityAt(u, v);
  show(nearestFrame(d), "clicked at " + Math.round(u * STACK.width) + "," + Math.round(v * STACK.height));
});
slider.addEventListener("input", () => show(Number(slider.value), ""));
document.addEventListener("keydown", (event) => {
  const step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
  if (step) show(Math.min(STACK.frames.length - 1, Math.max(0, Number(slider.value) + step)), "");
});
show(0, "");
window.refocusReady = true;  // listeners attached: the page answers clicks from here on
</script>
</body>
</html>
"""
