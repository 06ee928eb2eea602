"""The file names of a `refocus simulate` dataset, shared by the writer (simulate) and the readers (training)."""

from __future__ import annotations

DATASET_RECORD = "dataset.json"
"""The dataset's identity: format, source, seed, count and settings (what `--resume` must match)."""
MANIFEST = "manifest.jsonl"
"""One JSON row per sample: a pair or a stacking group, with its files and settings."""
SCENES = "scenes"
"""The folder of scene folders."""
