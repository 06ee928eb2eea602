"""A `refocus simulate` dataset as torch datasets: source/target pairs and stacking groups of one split.

Images come back as the model wants them: sRGB scaled to [-1, 1], [3,H,W]; disparity [1,H,W] in [0, 1]. With
`crop_px`, every item is a random square crop (the same window for all of an item's images), drawn from the
`generator` the caller seeds. With `prior`, items also carry the physics engine's render of the input onto the
target's focus plane (`learned.prior`), rendered once per row on the whole image, kept in memory and cropped
with the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from refocus_cli.errors import InputError
from refocus_cli.io.dataset_layout import DATASET_RECORD, MANIFEST
from refocus_cli.learned.prior import physics_prior


def read_png(path: Path) -> torch.Tensor:
    """An 8- or 16-bit PNG as float [C,H,W] in [0, 1] (RGB order; grey images have C = 1).

    Raises:
        InputError: the file is missing or not an image.
    """
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise InputError(path, "cannot be read as an image (is the dataset complete?)")
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    pixels = pixels[:, :, None] if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(pixels.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def manifest_rows(dataset: Path, kind: str, split: str) -> list[dict[str, Any]]:
    """The manifest's rows of one kind ("pair" or "stack") and split.

    Raises:
        InputError: the folder is not a finished `refocus simulate` dataset.
    """
    manifest = dataset / MANIFEST
    if not (dataset / DATASET_RECORD).is_file() or not manifest.is_file():
        raise InputError(dataset, f"is not a refocus simulate dataset (no {DATASET_RECORD} and {MANIFEST})")
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if row["kind"] == kind and row["split"] == split]


@dataclass(frozen=True)
class Crop:
    """A window (top, left, size) or the whole image (size None)."""

    top: int = 0
    left: int = 0
    size: int | None = None

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.size is None:
            return image
        return image[..., self.top : self.top + self.size, self.left : self.left + self.size]


def random_crop(size_hw: tuple[int, int], crop_px: int | None, generator: torch.Generator | None) -> Crop:
    """A random square window of `crop_px` inside an image of `size_hw` (the whole image when None)."""
    if crop_px is None:
        return Crop()
    h, w = size_hw
    size = min(crop_px, h, w)
    top = int(torch.randint(0, h - size + 1, (), generator=generator))
    left = int(torch.randint(0, w - size + 1, (), generator=generator))
    return Crop(top, left, size)


def to_model(image: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return image * 2.0 - 1.0


class _ManifestRows(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """The manifest rows of one kind and split, read lazily, each item cropped at random when `crop_px`."""

    kind = ""

    def __init__(
        self,
        dataset: Path,
        split: str,
        *,
        crop_px: int | None = None,
        generator: torch.Generator | None = None,
        prior: bool = False,
    ) -> None:
        self.root, self.rows = dataset, manifest_rows(dataset, self.kind, split)
        self.crop_px, self.generator, self.prior = crop_px, generator, prior
        self._priors: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def _prior(self, index: int, image: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor,
               blur_k_px: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """The physics prior of row `index` ([F,3,H,W] for F focus planes, whole image, model space), cached."""
        if index not in self._priors:
            f = focus.numel()
            images = image.expand(f, -1, -1, -1).contiguous()  # [F,3,H,W]
            delta = disparity.expand(f, -1, -1, -1) - focus.reshape(f, 1, 1, 1)
            with torch.no_grad():
                self._priors[index] = physics_prior(images, delta, blur_k_px.reshape(f))
        return self._priors[index]


class PairDataset(_ManifestRows):
    """Source/target pairs: {"image", "disparity", "focus", "blur_k_px", "target"}."""

    kind = "pair"

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.rows[index]
        crop = random_crop(tuple(row["size"]), self.crop_px, self.generator)
        image, disparity = to_model(read_png(self.root / row["input"]["image"])), read_png(self.root / row["depth"])
        item = {
            "image": crop(image),
            "disparity": crop(disparity),
            "focus": torch.tensor(float(row["target"]["focus_disparity"])),
            "blur_k_px": torch.tensor(float(row["target"]["blur_k_px"])),
            "target": to_model(crop(read_png(self.root / row["target"]["image"]))),
        }
        if self.prior:
            item["prior"] = crop(self._prior(index, image, disparity, item["focus"], item["blur_k_px"])[0])
        return item


class StackDataset(_ManifestRows):
    """Stacking groups: the scene's all-in-focus image as the input, and {"frames" [F,3,H,W], "masks"
    [F,H,W], "focus" [F], "blur_k_px" [F], "composite" [3,H,W]} with "image" and "disparity" (and "priors"
    [F,3,H,W] with `prior`)."""

    kind = "stack"

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.rows[index]
        crop = random_crop(tuple(row["size"]), self.crop_px, self.generator)
        frames = row["frames"]
        image, disparity = to_model(read_png(self.root / row["all_in_focus"])), read_png(self.root / row["depth"])
        item = {
            "image": crop(image),
            "disparity": crop(disparity),
            "frames": torch.stack([to_model(crop(read_png(self.root / f["image"]))) for f in frames]),
            "masks": torch.cat([crop(read_png(self.root / f["mask"])) for f in frames]),
            "focus": torch.tensor([float(f["focus_disparity"]) for f in frames]),
            "blur_k_px": torch.tensor([float(f["blur_k_px"]) for f in frames]),
            "composite": to_model(crop(read_png(self.root / row["composite"]))),
        }
        if self.prior:
            item["priors"] = crop(self._prior(index, image, disparity, item["focus"], item["blur_k_px"]))
        return item
