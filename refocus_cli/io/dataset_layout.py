"""The file names of a `refocus simulate` dataset, shared by the writer (simulate) and the readers (training)."""

from __future__ import annotations

from pathlib import Path

from refocus_cli.errors import OutputError

DATASET_RECORD = "dataset.json"
"""The dataset's identity: format, source, seed, count and settings (what `--resume` must match)."""
MANIFEST = "manifest.jsonl"
"""One JSON row per sample: a pair or a stacking group, with its files and settings."""
SCENES = "scenes"
"""The folder of scene folders."""


def check_dataset_folder(out: Path, *, resume: bool) -> None:
    """Raise `OutputError` unless `out` can hold a new dataset (absent or empty) or, with `resume`, is one.

    Raises:
        OutputError: `out` is a file; it holds files and `resume` is false; `resume` and it holds no dataset.json.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not resume:
            raise OutputError(out, "exists and is not empty; pass --resume to finish that dataset, or a new folder")
        if not (out / DATASET_RECORD).is_file():
            raise OutputError(out, f"holds no {DATASET_RECORD}, so it is not a dataset that --resume can finish")
