"""`refocus models fetch NAME`: download a registered model into the Hugging Face cache, at its pinned revision.

Only what `from_pretrained` loads is fetched: for a diffusers pipeline its `model_index.json` and component
folders (not the single-file checkpoints some repositories also keep at the top, nor fp16 variants), and for
either kind no weights in other frameworks' formats. Any failure is one line (`ModelUnavailableError`).
"""

from __future__ import annotations

from pathlib import Path

from refocus_cli.errors import ModelUnavailableError, one_line
from refocus_cli.registry.registry import ModelEntry, load_registry
from refocus_cli.registry.resolve import KIND_ADVICE, is_offline, presence

PIPELINE_FILES = ("model_index.json", "*/*")
"""A diffusers pipeline's files: its index and everything in its component folders."""
SKIPPED_FILES = ("*.fp16.*", "*.bin", "*.ckpt", "*.pth", "*.onnx", "*.onnx_data", "*.msgpack", "*.h5", "*.gguf")
"""Files never fetched: fp16 variants and weights in formats other than safetensors."""


def fetch_model(name: str) -> Path:
    """Download the registered model `name` (a model that ships with the project is only looked for).

    Returns:
        The folder holding it: the cache's snapshot folder, or the bundled folder.

    Raises:
        ModelUnavailableError: no such registered model, a bundled model that is not here, offline
            (HF_HUB_OFFLINE=1), or the download failed (no network, gated, no such revision), one line each.
        SettingsError: the registry is malformed.
    """
    entries = load_registry()
    entry = entries.get(name)
    if entry is None:
        raise ModelUnavailableError(
            f"no registered model named {name!r} (registered: {', '.join(entries)}; see `refocus models`)"
        )
    if entry.repo is None:
        return _bundled(entry)
    if is_offline(False):
        raise ModelUnavailableError(
            f"cannot fetch {name} ({entry.source}): offline mode (HF_HUB_OFFLINE=1) is set; unset it where there "
            "is network"
        )
    return _download(entry, entry.repo)


def _bundled(entry: ModelEntry) -> Path:
    """A model that ships with the project: its folder, or one line on how to get one."""
    found = presence(entry)
    if found.path is None:
        advice = KIND_ADVICE.get(entry.kind, "")
        raise ModelUnavailableError(
            f"{entry.name} ships with the project in {entry.local} (nothing to download), and it is not here"
            + (f"; {advice}" if advice else "")
        )
    return found.path


def _download(entry: ModelEntry, repo: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    is_pipeline = entry.marker_file == "model_index.json"
    try:
        folder = snapshot_download(
            repo,
            revision=entry.revision,
            allow_patterns=list(PIPELINE_FILES) if is_pipeline else None,
            ignore_patterns=list(SKIPPED_FILES),
        )
    except GatedRepoError as exc:
        raise ModelUnavailableError(
            f"cannot fetch {entry.name}: {repo} is gated on the Hugging Face Hub; accept its terms and run "
            "`hf auth login`"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelUnavailableError(
            f"cannot fetch {entry.name}: {repo} has no revision {entry.revision} (the registry pins it)"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelUnavailableError(
            f"cannot fetch {entry.name}: no repository {repo} on the Hugging Face Hub (or it is private)"
        ) from exc
    except Exception as exc:  # any transport failure (DNS, refused, timeout, proxy, disk) means "not fetched"
        raise ModelUnavailableError(f"cannot fetch {entry.name} ({entry.source}): {one_line(exc)}") from exc
    return Path(str(folder))
