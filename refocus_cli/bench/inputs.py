"""The speed benchmarks' input: the bundled motorcycle photo and its disparity, resized to any size, so the depth
has real structure (edges, a receding floor, a cluttered background)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
PHOTO, DISPARITY = EXAMPLES / "motorcycle.jpg", EXAMPLES / "motorcycle-disparity.png"
FOCUS_AT = (0.55, 0.45)
"""The focus point as shares of the width and height: on the motorcycle."""


def motorcycle_resized(width: int, height: int) -> tuple[Image.Image, np.ndarray]:
    """The photo (RGB, Lanczos) and its disparity (float32 [H,W] in 16-bit units, 65535 = nearest, bilinear),
    both resized to width x height.

    Raises:
        InputError: the examples folder is missing (the bench reads it from a source checkout).
    """
    import numpy as np
    from PIL import Image

    for path in (PHOTO, DISPARITY):
        if not path.is_file():
            raise InputError(path, "missing; the speed bench reads the bundled example from a source checkout")
    with Image.open(PHOTO) as photo_file:
        photo = photo_file.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    with Image.open(DISPARITY) as depth_file:
        disparity = np.asarray(depth_file).astype(np.float32)
    resized = np.asarray(Image.fromarray(disparity).resize((width, height), Image.Resampling.BILINEAR))
    return photo, resized


def motorcycle_tensors(width: int, height: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The motorcycle as the renderers take it: linear light [1,3,H,W], disparity [1,1,H,W] in [0, 1]
    (1 = nearest), and the focus disparity (the median in a 9x9 window at `FOCUS_AT`)."""
    import numpy as np
    import torch

    from refocus_cli.colour import srgb_to_linear

    photo, disparity = motorcycle_resized(width, height)
    encoded = torch.from_numpy(np.array(photo, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    disparity_01 = torch.from_numpy(np.array(disparity) / 65535.0)[None, None].clamp(0.0, 1.0)
    x, y = int(width * FOCUS_AT[0]), int(height * FOCUS_AT[1])
    window = disparity_01[..., max(0, y - 4) : y + 5, max(0, x - 4) : x + 5]
    return srgb_to_linear(encoded), disparity_01, float(window.median())
