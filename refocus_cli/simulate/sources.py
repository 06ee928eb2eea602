"""Where scenes come from, and the plan of a run: which scenes, their seeds, pairs and splits.

A source is `procedural` (random layered scenes with exact ground truth) or a folder of photos. A photo's
depth is the file beside it that matches its name (first found of `depth/<stem>.*`, `<stem>-depth.*`,
`<stem>_depth.*`, `<stem>.depth.*`, `<stem>-disparity.*`, `<stem>_disparity.*`, in any format `--depth`
reads); a photo without one gets its depth from the depth providers (`refocus image`'s order).

Everything random about a scene follows from its seed, which follows from the run's seed and the scene's
index alone: the same seed gives the same dataset, however many workers make it and in what order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from refocus_cli.errors import InputError, SettingsError
from refocus_cli.io.formats import DEPTH_SUFFIXES, IMAGE_SUFFIXES
from refocus_cli.io.own_outputs import DEPTH_NAME_PATTERNS, is_depth_name
from refocus_cli.simulate.settings import SplitSettings

PROCEDURAL = "procedural"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SceneSpec:
    """One scene's task: everything a worker needs to make its samples (picklable, for Ray and processes).

    Attributes:
        index: position in the run (0-based); seed and split follow from it.
        scene_id: folder name under `scenes/`, unique in the dataset.
        seed: seeds every random choice of this scene.
        split: train, validation or test (a scene's samples never straddle splits).
        pairs: source/target pairs to make.
        image_path, depth_path: the photo and its depth file (None: procedural, or depth from the providers).
    """

    index: int
    scene_id: str
    seed: int
    split: str
    pairs: int
    image_path: str | None = None
    depth_path: str | None = None

    @property
    def procedural(self) -> bool:
        return self.image_path is None


def scene_seed(seed: int, index: int) -> int:
    """A 63-bit seed for scene `index` of a run seeded `seed` (SHA-256, the same on every machine).

    >>> scene_seed(0, 1) == scene_seed(0, 1) != scene_seed(0, 2)
    True
    """
    digest = hashlib.sha256(f"refocus-simulate:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def split_counts(scenes: int, shares: SplitSettings) -> dict[str, int]:
    """Scenes per split: the shares' floors, the rest to the largest remainders (ties: train first).

    >>> split_counts(10, SplitSettings())
    {'train': 8, 'validation': 1, 'test': 1}
    >>> split_counts(3, SplitSettings())
    {'train': 3, 'validation': 0, 'test': 0}
    """
    exact = {name: scenes * share for name, share in shares.shares().items()}
    counts = {name: math.floor(value + 1e-9) for name, value in exact.items()}
    by_remainder = sorted(SPLITS, key=lambda name: (-(exact[name] - counts[name]), SPLITS.index(name)))
    for name in by_remainder[: scenes - sum(counts.values())]:
        counts[name] += 1
    return counts


def scenes_for_every_split(shares: SplitSettings) -> int:
    """The fewest scenes that give every split with a share above 0 a scene of its own.

    >>> scenes_for_every_split(SplitSettings())
    7
    """
    wanted = [name for name, share in shares.shares().items() if share > 0]
    scenes = len(wanted)
    while min(split_counts(scenes, shares)[name] for name in wanted) < 1:
        scenes += 1
    return scenes


def empty_split_note(
    splits: dict[str, int], shares: SplitSettings, pairs_per_scene: int, *, photos: bool = False
) -> str | None:
    """A note when a split with a share above 0 got no scene (`splits`: scenes per split), with the --count
    (and, for a folder source, the photos) that give each one; None when each has its scene.

    >>> note = empty_split_note({"train": 2, "validation": 0, "test": 0}, SplitSettings(), 4)
    >>> note.split(":")[0], note.split(": ")[-1]
    ('validation and test got no scene (2 scenes', '--count 28 (7 scenes of 4 pairs) gives every split one')
    """
    empty = [name for name, share in shares.shares().items() if share > 0 and splits.get(name, 0) == 0]
    if not empty:
        return None
    enough = scenes_for_every_split(shares)
    given = " / ".join(f"{name} {splits.get(name, 0)}" for name in SPLITS)
    return (
        f"{' and '.join(empty)} got no scene ({sum(splits.values())} scenes: {given}; the split is by scene): "
        f"--count {enough * pairs_per_scene} ({enough} scenes of {pairs_per_scene} pairs"
        f"{f', from {enough} photos or more' if photos else ''}) gives every split one"
    )


def assign_splits(scenes: int, seed: int, shares: SplitSettings) -> list[str]:
    """Each scene's split: `split_counts` of them, to scenes in an order shuffled by `seed`."""
    counts = split_counts(scenes, shares)
    order = torch.randperm(scenes, generator=torch.Generator().manual_seed(seed)).tolist()
    labels = [name for name in SPLITS for _ in range(counts[name])]
    splits = [""] * scenes
    for rank, index in enumerate(order):
        splits[index] = labels[rank]
    return splits


def find_photos(folder: Path) -> list[tuple[Path, Path | None]]:
    """The photos in `folder` (sorted by name) with their depth files (None where none matches).

    Raises:
        InputError: the folder does not exist or holds no photos.
    """
    if not folder.is_dir():
        raise InputError(folder, "no such folder (the source is `procedural` or a folder of photos)")
    photos = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not is_depth_name(path)
    )
    if not photos:
        raise InputError(folder, "holds no photos (.jpg, .png, .tif, .webp, .heic)")
    return [(photo, _depth_file_for(photo)) for photo in photos]


def _depth_file_for(photo: Path) -> Path | None:
    for pattern in DEPTH_NAME_PATTERNS:
        stem = photo.parent / pattern.format(stem=photo.stem)
        for suffix in DEPTH_SUFFIXES:
            candidate = stem.with_name(stem.name + suffix)
            if candidate.is_file():
                return candidate
    return None


def plan_scenes(source: str, count: int, seed: int, pairs_per_scene: int, shares: SplitSettings) -> list[SceneSpec]:
    """The scenes of a run making `count` pairs: `pairs_per_scene` to a scene (procedural), or the photos of a
    folder, each once, the pairs spread evenly over as many as are needed.

    Raises:
        SettingsError: `count` below 1.
        InputError: a folder source that is missing or holds no photos.
    """
    if count < 1:
        raise SettingsError(f"--count must be 1 or more, got {count}")
    wanted = math.ceil(count / pairs_per_scene)
    if source == PROCEDURAL:
        photos: list[tuple[Path, Path | None]] = []
        scenes = wanted
        ids = [f"procedural-{index:06d}" for index in range(scenes)]
    else:
        photos = find_photos(Path(source))[:wanted]
        scenes = len(photos)
        ids = _photo_ids([photo for photo, _ in photos])
    splits = assign_splits(scenes, seed, shares)
    specs = []
    for index in range(scenes):
        photo, depth = photos[index] if photos else (None, None)
        specs.append(
            SceneSpec(
                index=index,
                scene_id=ids[index],
                seed=scene_seed(seed, index),
                split=splits[index],
                pairs=count // scenes + (index < count % scenes),
                image_path=None if photo is None else str(photo),
                depth_path=None if depth is None else str(depth),
            )
        )
    return specs


def _photo_ids(photos: list[Path]) -> list[str]:
    """Scene ids from photo names: the stem, with the suffix added where two photos share a stem."""
    stems = [photo.stem for photo in photos]
    return [
        f"{photo.stem}-{photo.suffix.lstrip('.').lower()}" if stems.count(photo.stem) > 1 else photo.stem
        for photo in photos
    ]
