"""The one loader's locating step: from `--model NAME_OR_PATH` (or none) to what `from_pretrained` takes.

Offline first, in this order:

1. nothing named: the registry's default of the kind;
2. an existing folder: that folder;
3. a registry name: its `local` folder when that holds the model, else its snapshot in the Hugging Face cache at
   its pinned revision, else (only when the caller downloads on first use and the machine is not offline) the
   Hub at that revision;
4. a Hub id not in the registry ("org/name"): its snapshot in the cache, else the Hub as above;
5. anything else, or a model that is not here: one line saying what is missing and how to get it
   (`refocus models fetch NAME`).

Offline is `offline=True` or HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE in the environment. Nothing here reaches the
network: "hub" only says that `from_pretrained` will download. huggingface_hub is imported only to look in the
cache.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from refocus_cli.errors import DepthUnavailableError, ModelUnavailableError, RefocusError
from refocus_cli.registry.registry import KINDS, ModelEntry, default_entry, load_registry

Where = Literal["folder", "bundled", "cache", "hub"]
HUB_MARKERS = ("model_index.json", "config.json")
"""Files that say a Hub id not in the registry is cached (a diffusers pipeline, a transformers model)."""
KIND_ERRORS: dict[str, type[RefocusError]] = {"depth": DepthUnavailableError}
"""The error each kind raises (the depth code's callers fall back on DepthUnavailableError); others:
ModelUnavailableError."""
KIND_OPTIONS = {"depth": "--depth-model"}
"""The option that names a model of each kind; others: --model."""
KIND_ADVICE = {"refocus": "train one with `refocus train --data DATASET --out RUN` and pass --model RUN/pipeline"}
"""How to get a model of a kind without the registry; others: pass the option a folder."""
OFFLINE_HINT = "offline mode (--offline or HF_HUB_OFFLINE=1) prevents downloading it"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = ("1", "on", "yes", "true")


@dataclass(frozen=True)
class Presence:
    """Where a registered model is on this machine.

    Attributes:
        where: "bundled" (its `local` folder), "cache" (the Hugging Face cache, at its pinned revision) or
            "missing".
        path: the folder holding it (the cache's snapshot folder); None when missing.
    """

    where: Literal["bundled", "cache", "missing"]
    path: Path | None


@dataclass(frozen=True)
class ResolvedModel:
    """A model found for a command.

    Attributes:
        name: the model as the user named it, or the default's registry name.
        ref: what to hand to `from_pretrained`: a folder, or a Hub id (where == "hub").
        revision: the revision to download (a registry entry's pinned commit, or None for a Hub id's main);
            None whenever `ref` is a folder.
        where: "folder" (a folder the user named), "bundled" (a registry entry's `local` folder), "cache" (a
            snapshot folder in the Hugging Face cache) or "hub" (`from_pretrained` downloads it).
        entry: the registry entry, or None for a folder or Hub id named directly.
        repo: the Hub id behind it (to fetch what a partial cache lacks), or None.
    """

    name: str
    ref: str
    revision: str | None
    where: Where
    entry: ModelEntry | None = None
    repo: str | None = None

    @property
    def local_files_only(self) -> bool:
        """Whether every file must already be on disk (`from_pretrained(..., local_files_only=...)`)."""
        return self.where != "hub"

    @property
    def hub_revision(self) -> str | None:
        """The revision on the Hub (the pinned one for a registry entry), whatever `where` is."""
        return self.entry.revision if self.entry is not None else None


def is_offline(offline: bool) -> bool:
    """Offline when asked to, or when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set in the environment."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return offline or env.strip().lower() in _TRUE


def is_hub_id(model: str) -> bool:
    """Whether `model` has the shape of a Hub model id, "org/name".

    >>> is_hub_id("stabilityai/sd-turbo"), is_hub_id("sd-turbo"), is_hub_id("./a/b")
    (True, False, False)
    """
    return bool(_HUB_ID.match(model)) and ".." not in model


def error_class(kind: str) -> type[RefocusError]:
    """The error a kind's missing model raises: DepthUnavailableError for depth, else ModelUnavailableError."""
    return KIND_ERRORS.get(kind, ModelUnavailableError)


def names_a_model(model: str) -> bool:
    """Whether `model` is a registry name or has the shape of a Hub id (and so is not just a folder path)."""
    return model in load_registry() or is_hub_id(model)


def presence(entry: ModelEntry) -> Presence:
    """Where a registered model is: its `local` folder, the Hugging Face cache at its pinned revision, or missing.

    A folder counts only when it holds the entry's marker file (`model_index.json` or `config.json`); the cache
    is read without touching the network.
    """
    local = entry.local_path
    if local is not None and (local / entry.marker_file).is_file():
        return Presence("bundled", local)
    if entry.repo is not None:
        snapshot = cached_snapshot(entry.repo, (entry.marker_file,), entry.revision)
        if snapshot is not None:
            return Presence("cache", snapshot)
    return Presence("missing", None)


def cached_snapshot(repo: str, markers: tuple[str, ...], revision: str | None = None) -> Path | None:
    """The cache's snapshot folder of `repo` at `revision` (None: main) holding one of `markers`, else None (also
    for an id the Hub would refuse, such as "a--b/c")."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    for marker in markers:
        try:
            found = try_to_load_from_cache(repo, marker, revision=revision)
        except HFValidationError:
            return None
        if isinstance(found, str):
            return Path(found).parent
    return None


def resolve_model(name_or_path: str | None, kind: str, *, offline: bool, download: bool = False) -> ResolvedModel:
    """Find the model a command names (None: the kind's default), offline first (see the module's docstring).

    Args:
        name_or_path: a folder, a registry name, a Hub id, or None for the registry's default of `kind`.
        kind: "depth", "refocus" or "text-to-image".
        offline: never download (also when HF_HUB_OFFLINE=1).
        download: whether the caller downloads on first use (`where == "hub"`) when the model is not here.

    Raises:
        DepthUnavailableError (kind "depth") or ModelUnavailableError (other kinds): the model is not on this
            machine and may not be downloaded, a registry name of another kind, a file, or a name that is
            neither a folder, a registered model nor a Hub id (one line each).
        SettingsError: the registry is malformed.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    error = error_class(kind)
    if name_or_path is None:
        default = default_entry(kind)
        return _registered(default.name, default, kind, offline=offline, download=download)
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return ResolvedModel(name_or_path, str(folder), None, "folder")
    if folder.exists():
        raise error(f"{kind} model {name_or_path}: is a file, not a model folder")
    entry = load_registry().get(name_or_path)
    if entry is not None:
        if entry.kind != kind:
            raise error(f"{name_or_path} is a {entry.kind} model, not a {kind} model (see `refocus models`)")
        return _registered(name_or_path, entry, kind, offline=offline, download=download)
    if is_hub_id(name_or_path):
        return _hub_id(name_or_path, kind, offline=offline, download=download)
    raise error(
        f"{kind} model {name_or_path}: no such folder, not a registered model (see `refocus models`) "
        "and not a Hugging Face id (org/name)"
    )


def _registered(name: str, entry: ModelEntry, kind: str, *, offline: bool, download: bool) -> ResolvedModel:
    """A registry entry: its folder, its cached snapshot, or (downloading allowed) the Hub at its revision."""
    found = presence(entry)
    if found.path is not None:
        where: Where = "bundled" if found.where == "bundled" else "cache"
        return ResolvedModel(name, str(found.path), None, where, entry, entry.repo)
    error = error_class(kind)
    option = KIND_OPTIONS.get(kind, "--model")
    if entry.repo is None:
        advice = KIND_ADVICE.get(kind, f"pass {option} PATH")
        raise error(f"{kind} model {name} ships with the project in {entry.local}, which is not here; {advice}")
    if download and not is_offline(offline):
        return ResolvedModel(name, entry.repo, entry.revision, "hub", entry, entry.repo)
    missing = f"is not in the Hugging Face cache and {OFFLINE_HINT}" if download else "is not on this machine"
    raise error(
        f"{kind} model {name} ({entry.source}) {missing}; run `refocus models fetch {name}` where there is "
        f"network, or pass {option} PATH"
    )


def _hub_id(repo: str, kind: str, *, offline: bool, download: bool) -> ResolvedModel:
    """A Hub id not in the registry: its cached snapshot (main), or (downloading allowed) the Hub."""
    snapshot = cached_snapshot(repo, HUB_MARKERS)
    if snapshot is not None:
        return ResolvedModel(repo, str(snapshot), None, "cache", None, repo)
    if download and not is_offline(offline):
        return ResolvedModel(repo, repo, None, "hub", None, repo)
    error = error_class(kind)
    missing = f"and {OFFLINE_HINT}" if download else "and nothing here downloads it"
    raise error(
        f"{kind} model {repo} is not in the Hugging Face cache {missing}; run `hf download {repo}` where there "
        f"is network, or pass {KIND_OPTIONS.get(kind, '--model')} PATH"
    )
