"""The dataset's layout on disk, written so that nothing is ever half there.

    DATASET/
      dataset.json              the run: source, seed, count, settings (every distribution), counts per split
      manifest.jsonl            one row per sample (pairs and stacking groups), in scene order
      scenes/<scene_id>/        one folder per scene, renamed into place only when complete:
        all_in_focus.png        the scene's all-in-focus image (sRGB PNG, 8 or 16 bits)
        depth.png               the disparity used (16-bit grey, 65535 = nearest)
        pair-NNN-source.png     a pair's input (absent when the input is the all-in-focus image)
        pair-NNN-target.png     a pair's target
        stack-NN.png            the stacking group's frames, nearest focus first (as a camera captured them with
                                stack.capture = "camera": each row records their scale, shift and gain)
        stack-mask-NN.png       each frame's in-focus mask (8-bit grey)
        stack-composite.png     the ideal frames blended by their masks
        scene.json              the scene's manifest rows (written last)

Paths in the manifest are relative to DATASET. A scene folder exists only complete: it is written under a
hidden temporary name and renamed, so a killed run leaves whole scenes and temporary folders that the next
run (`--resume`) removes before it makes the missing scenes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from refocus_cli import __version__
from refocus_cli.errors import OutputError, SettingsError
from refocus_cli.io.atomic import atomic_folder, atomic_output
from refocus_cli.io.dataset_layout import DATASET_RECORD, MANIFEST, SCENES, check_dataset_folder
from refocus_cli.simulate.scene import SCENE_RECORD, SceneFiles
from refocus_cli.simulate.settings import SimulationSettings, settings_from_record
from refocus_cli.simulate.sources import SPLITS, SceneSpec

DATASET_FORMAT = "refocus-simulate/1"
IDENTITY_KEYS = ("format", "source", "seed", "count", "settings")
"""dataset.json keys that must match for `--resume` to finish a dataset."""


def dataset_record(
    source: str, seed: int, count: int, settings: SimulationSettings, plan: list[SceneSpec]
) -> dict[str, Any]:
    """dataset.json: what was asked for and what the plan makes (no dates or machine names: a seed gives the
    same bytes)."""
    splits = {name: {"scenes": 0, "pairs": 0, "stacks": 0} for name in SPLITS}
    for spec in plan:
        splits[spec.split]["scenes"] += 1
        splits[spec.split]["pairs"] += spec.pairs
        splits[spec.split]["stacks"] += 1
    return {
        "format": DATASET_FORMAT,
        "source": source,
        "seed": seed,
        "count": count,
        "settings": settings.to_record(),
        "scenes": len(plan),
        "pairs": sum(spec.pairs for spec in plan),
        "stacks": len(plan),
        "splits": splits,
        "created_by": f"refocus {__version__}",
        "layout": {
            "manifest": MANIFEST,
            "scenes": f"{SCENES}/<scene>/",
            "images": "sRGB PNG; depth.png is 16-bit disparity (65535 = nearest); masks 8-bit",
        },
    }


def prepare_folder(out: Path, record: dict[str, Any], *, resume: bool) -> None:
    """Make `out` for a new dataset, or check that it is the same dataset when resuming; write dataset.json.

    Raises:
        OutputError: `out` is a file, its parent is missing, or it holds files and `resume` is false.
        SettingsError: resuming a folder whose dataset.json asks for something else (names the key).
    """
    check_dataset_folder(out, resume=resume)
    existing = out / DATASET_RECORD
    if out.is_dir() and any(out.iterdir()):
        try:
            old = json.loads(existing.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputError(existing, f"cannot be read ({exc.__class__.__name__})") from exc
        for key in IDENTITY_KEYS:
            if _identity(old, key) != record[key]:
                raise SettingsError(
                    f"{existing}: this dataset was made with another {key} ({json.dumps(old.get(key))[:80]}); "
                    "--resume finishes a run with the same source, seed, count and settings"
                )
    elif not out.parent.is_dir():
        raise OutputError(out, "folder does not exist (its parent is missing)")
    try:
        (out / SCENES).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, f"cannot write ({exc.strerror or exc})") from exc
    _write_text(existing, json.dumps(record, indent=2) + "\n")
    remove_unfinished(out)


def _identity(record: dict[str, Any], key: str) -> Any:
    """An existing dataset.json's value of `key`; its settings read as today's, so that a dataset made before a
    setting existed (its keys absent: their defaults) resumes."""
    value = record.get(key)
    if key != "settings" or not isinstance(value, dict):
        return value
    try:
        return settings_from_record(value, where=DATASET_RECORD).to_record()
    except SettingsError:
        return value


def remove_unfinished(out: Path) -> None:
    """Remove the temporary folders a killed run left under scenes/."""
    for path in (out / SCENES).iterdir():
        if path.name.startswith(".") and (".tmp-" in path.name or ".old-" in path.name):
            shutil.rmtree(path, ignore_errors=True)


def is_done(out: Path, spec: SceneSpec) -> bool:
    """Whether the scene's folder is in place (it only ever appears complete)."""
    return (out / SCENES / spec.scene_id / SCENE_RECORD).is_file()


def write_scene(out: Path, scene: SceneFiles) -> None:
    """Write one scene's files into a hidden temporary folder, scene.json last, then rename it into place.

    Raises:
        OutputError: the files cannot be written.
    """
    # A folder there without its scene.json is not a finished scene of ours: it is replaced, not mixed with.
    with atomic_folder(out / SCENES / scene.scene_id, overwrite=True) as tmp:
        for name, data in sorted(scene.files.items(), key=lambda item: item[0] == SCENE_RECORD):
            (tmp / name).write_bytes(data)


def scene_rows(out: Path, spec: SceneSpec) -> list[dict[str, Any]]:
    """The manifest rows a finished scene wrote."""
    record = json.loads((out / SCENES / spec.scene_id / SCENE_RECORD).read_text(encoding="utf-8"))
    return list(record["rows"])


def write_manifest(out: Path, plan: list[SceneSpec]) -> int:
    """manifest.jsonl from the finished scenes' rows, in scene order (atomically); returns the rows written."""
    lines = [json.dumps(row) for spec in plan if is_done(out, spec) for row in scene_rows(out, spec)]
    _write_text(out / MANIFEST, "".join(line + "\n" for line in lines))
    return len(lines)


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
