"""The model registry: every learned model `refocus` knows by name, described as data in `registry.toml`.

One table per model, keyed by its name (lower case, no "/", so that it never reads as a Hub id):

    [sd-turbo]
    kind = "text-to-image"            # depth | refocus | text-to-image
    default = true                    # the model of its kind when none is named (one per kind)
    repo = "stabilityai/sd-turbo"     # Hugging Face Hub id; absent for a model that ships with the project
    revision = "b261bac6..."          # the pinned commit (40 hex digits); "main" where none is pinned
    class = "StableDiffusionPipeline" # what loads it: a diffusers pipeline or a transformers Auto class
    resolution = 512                  # processing / generation size, px (0: the input's own size)
    dtype = "float16"                 # on CUDA (the CPU always runs float32)
    licence = "..."
    size_mb = 5200                    # approximate download, MB
    used_for = "..."                  # one line
    local = "models/refocus-small"    # optional: a folder, relative to the project root (or absolute); the
                                      #   wheel carries models/ as package data (refocus_cli.shipped)
    steps = 1                         # optional: default denoising steps (text-to-image)
    guidance = 0.0                    # optional: default classifier-free guidance scale (text-to-image)

`load_registry` reads and checks the file (a malformed one is one `SettingsError` line naming the file and the
entry); nothing here touches the network or imports anything heavy.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refocus_cli.errors import SettingsError
from refocus_cli.shipped import shipped_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REGISTRY_PATH = Path(__file__).resolve().with_name("registry.toml")
"""The registry `load_registry` reads when given no path."""
KINDS = ("depth", "refocus", "text-to-image")
DTYPES = ("float16", "bfloat16", "float32")
UNPINNED = "unpinned"
"""How an entry without a pinned commit is shown."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REQUIRED = {
    "kind": str,
    "class": str,
    "resolution": int,
    "dtype": str,
    "licence": str,
    "size_mb": float,
    "used_for": str,
}
_OPTIONAL = {"repo": str, "revision": str, "local": str, "default": bool, "steps": int, "guidance": float}
_KEYS = {**_REQUIRED, **_OPTIONAL}
_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes:
        name: the registry name ("sd-turbo"), what `--model` / `--depth-model` accept.
        kind: "depth", "refocus" or "text-to-image".
        repo: the Hugging Face Hub id, or None for a model that ships with the project (`local`).
        revision: the Hub commit (40 hex digits) it is pinned to, "main" where unpinned; None without `repo`.
        model_class: the class that loads it ("FluxPipeline", "AutoModelForDepthEstimation").
        resolution_px: processing / generation size in pixels; 0 = the input's own size.
        dtype: the dtype on CUDA ("float16", "bfloat16", "float32"); the CPU always runs float32.
        licence: the weights' licence.
        size_mb: approximate download size, MB.
        used_for: what `refocus` uses it for, one line.
        local: a folder holding it (relative to the project's root, where the package's data is looked in
            first: see `refocus_cli.shipped`; or absolute), or None.
        default: whether it is its kind's default.
        steps: default denoising steps (a text-to-image model's own recommendation), or None.
        guidance: default classifier-free guidance scale (0: none), or None.
    """

    name: str
    kind: str
    repo: str | None
    revision: str | None
    model_class: str
    resolution_px: int
    dtype: str
    licence: str
    size_mb: float
    used_for: str
    local: str | None = None
    default: bool = False
    steps: int | None = None
    guidance: float | None = None

    @property
    def pinned(self) -> bool:
        """Whether `revision` is a commit (40 hex digits), not a branch."""
        return self.revision is not None and bool(_COMMIT.match(self.revision))

    @property
    def short_revision(self) -> str:
        """The revision as listed: 7 hex digits, "unpinned", or "-" for a model that is not on the Hub."""
        if self.repo is None:
            return "-"
        return self.revision[:7] if self.pinned and self.revision else UNPINNED

    @property
    def source(self) -> str:
        """Where it comes from, for messages: "repo@abc1234", "repo (unpinned)" or its local folder."""
        if self.repo is None:
            return str(self.local)
        return f"{self.repo}@{self.revision[:7]}" if self.pinned and self.revision else f"{self.repo} (unpinned)"

    @property
    def marker_file(self) -> str:
        """The file at its root whose presence says the model is there: a diffusers pipeline's
        `model_index.json`, else a transformers model's `config.json`."""
        return "model_index.json" if self.model_class.endswith("Pipeline") else "config.json"

    @property
    def local_path(self) -> Path | None:
        """`local` as a path (a relative one in the installed package's data, else in the checkout); None
        without one."""
        if self.local is None:
            return None
        local = Path(self.local).expanduser()
        return local if local.is_absolute() else shipped_path(local)


def load_registry(path: Path | None = None) -> dict[str, ModelEntry]:
    """The registry's entries by name, in file order (`path` None: `REGISTRY_PATH`).

    Raises:
        SettingsError: the file is unreadable or not TOML, or an entry has an unknown key, lacks a field, has a
            value of the wrong type, an unknown kind or dtype, or a kind has two defaults (one line each).
    """
    path = REGISTRY_PATH if path is None else path
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the model registry ({exc.__class__.__name__})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML ({exc})") from exc
    entries = {name: _entry(path, name, table) for name, table in tables.items()}
    defaults: dict[str, str] = {}
    for entry in entries.values():
        if entry.default and entry.kind in defaults:
            raise SettingsError(
                f"{path}: model {entry.name}: a second default for kind {entry.kind} (first: {defaults[entry.kind]})"
            )
        if entry.default:
            defaults[entry.kind] = entry.name
    return entries


def default_entry(kind: str, path: Path | None = None) -> ModelEntry:
    """The registry's default model of `kind`.

    Raises:
        SettingsError: `kind` is unknown or has no default in the registry.
    """
    if kind not in KINDS:
        raise SettingsError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    for entry in load_registry(path).values():
        if entry.kind == kind and entry.default:
            return entry
    raise SettingsError(f"{path or REGISTRY_PATH}: no default model of kind {kind}")


def _entry(path: Path, name: str, table: Any) -> ModelEntry:
    """One checked entry; a SettingsError names the file and the entry."""
    where = f"{path}: model {name}"
    if not _NAME.match(name):
        raise SettingsError(f"{where}: a name is lower-case letters, digits, '.', '_' and '-'")
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise SettingsError(f"{where}: unknown key {unknown[0]} (known: {', '.join(_KEYS)})")
    missing = [key for key in _REQUIRED if key not in table]
    if missing:
        raise SettingsError(f"{where}: missing {', '.join(missing)}")
    values = {key: _checked(where, key, value) for key, value in table.items()}
    if values["kind"] not in KINDS:
        raise SettingsError(f"{where}: kind {values['kind']!r} is not one of {', '.join(KINDS)}")
    if values["dtype"] not in DTYPES:
        raise SettingsError(f"{where}: dtype {values['dtype']!r} is not one of {', '.join(DTYPES)}")
    if values["resolution"] < 0 or values["size_mb"] < 0 or values.get("guidance", 0.0) < 0:
        raise SettingsError(f"{where}: resolution, size_mb and guidance must be 0 or more")
    if values.get("steps", 1) < 1:
        raise SettingsError(f"{where}: steps must be 1 or more")
    repo, revision, local = values.get("repo"), values.get("revision"), values.get("local")
    if repo is None and local is None:
        raise SettingsError(f"{where}: needs a repo (a Hugging Face id) or a local folder")
    if repo is not None and revision is None:
        raise SettingsError(f'{where}: a repo needs a revision (a 40-hex commit, or "main" where none is pinned)')
    if repo is None and revision is not None:
        raise SettingsError(f"{where}: a revision without a repo")
    return ModelEntry(
        name=name,
        kind=values["kind"],
        repo=repo,
        revision=revision,
        model_class=values["class"],
        resolution_px=values["resolution"],
        dtype=values["dtype"],
        licence=values["licence"],
        size_mb=values["size_mb"],
        used_for=values["used_for"],
        local=local,
        default=values.get("default", False),
        steps=values.get("steps"),
        guidance=values.get("guidance"),
    )


def _checked(where: str, key: str, value: Any) -> Any:
    """`value` as key's type (a whole number also counts as a number), or a SettingsError."""
    wanted = _KEYS[key]
    accepted: tuple[type, ...] = (int, float) if wanted is float else (wanted,)
    if (isinstance(value, bool) and wanted is not bool) or not isinstance(value, accepted):
        raise SettingsError(f"{where}: {key} must be {_TYPE_NAMES[wanted]}")
    if isinstance(value, str) and not value.strip():
        raise SettingsError(f"{where}: {key} is empty")
    return float(value) if isinstance(value, int | float) and wanted is float else value
