"""Where a learned depth model's files are (through the model registry's loader) and which family it is.

A model is named by a registry name ("depth-anything-v2-small", see `refocus models`), a local folder path or a
Hub id ("org/name"); `refocus_cli.registry.resolve_model` finds it, offline first (a folder, the Hugging Face
cache at the registry's pinned revision, else the Hub). Its family follows from the files at its root:
`model_index.json` naming `MarigoldDepthPipeline` is a diffusers Marigold pipeline; `config.json` with a
`model_type` that transformers maps to a depth-estimation model is a transformers depth model.

A model that is not here is downloaded on first use unless offline; the Hub is first probed with a short timeout,
so that a machine without network fails in seconds (the Hub client's own download path retries for a minute)
with one line that says how to get the model.

Nothing here imports transformers or diffusers; huggingface_hub is imported only when a Hub id is looked up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from refocus_cli.errors import DepthUnavailableError, one_line
from refocus_cli.registry.registry import default_entry
from refocus_cli.registry.resolve import Where, resolve_model

Family = Literal["transformers", "marigold"]

DEFAULT_DEPTH_MODEL = default_entry("depth").name
"""The registry's default depth model (Depth Anything V2 Small, Apache-2.0, about 100 MB): what `refocus` uses
unless told otherwise."""
TRANSFORMERS_OUTPUTS = {"depth_anything": "disparity", "dpt": "disparity"}
"""What `predicted_depth` holds for each transformers `model_type` we run: relative inverse depth (MiDaS-style
disparity, affine-invariant). A Depth Anything config with `depth_estimation_type == "metric"` holds metres."""

MARIGOLD_PIPELINES = ("MarigoldDepthPipeline",)
"""diffusers pipeline classes (`_class_name` in model_index.json) that we run."""
PROBE_TIMEOUT_S = 5.0
"""Longest wait for the Hub to answer before a download is given up."""
FAMILY_FILES = ("model_index.json", "config.json")
"""Files whose presence (first match wins) names a model's family."""


@dataclass(frozen=True)
class LocatedModel:
    """A depth model found on disk or on the Hub.

    Attributes:
        name: the model as the user named it (registry name, Hub id or folder path), for messages and
            `DepthMap.source`.
        ref: what to hand to `from_pretrained`: a folder path (also a cache snapshot) or the Hub id.
        family: "transformers" or "marigold".
        where: "folder" (a folder named by the user), "bundled" (a registry entry's own folder), "cache" (the
            Hugging Face cache) or "hub" (to download).
        repo: the Hub id behind it (None: a plain folder), to fetch what a partial cache lacks.
        hub_revision: the revision on the Hub (a registry entry's pinned commit; None: main).
    """

    name: str
    ref: str
    family: Family
    where: Where
    repo: str | None = None
    hub_revision: str | None = None

    @property
    def local_files_only(self) -> bool:
        """Whether every file is expected on disk already (no download)."""
        return self.where != "hub"

    @property
    def revision(self) -> str | None:
        """`from_pretrained`'s revision: the Hub revision when downloading, None when `ref` is a folder."""
        return self.hub_revision if self.where == "hub" else None

    def on_the_hub(self) -> LocatedModel:
        """The same model, to download from the Hub (what a partly cached snapshot lacks).

        Raises:
            DepthUnavailableError: it has no Hub id, or the Hub cannot be reached (see `probe_hub`).
        """
        if self.repo is None:
            raise DepthUnavailableError(f"depth model {self.name} is not on the Hugging Face Hub")
        family = probe_hub(self.repo, revision=self.hub_revision, name=self.name)
        return LocatedModel(self.name, self.repo, family, "hub", self.repo, self.hub_revision)


def locate_model(model: str, *, offline: bool) -> LocatedModel:
    """Find a depth model through the registry's loader (downloading on first use unless offline) and read
    its family.

    Raises:
        DepthUnavailableError: no such folder or model, a folder or repository that is not a depth model we run,
            not cached while offline, or the Hub unreachable (one line each).
    """
    resolved = resolve_model(model, kind="depth", offline=offline, download=True)
    if resolved.where == "hub":
        repo = resolved.ref
        family = probe_hub(repo, revision=resolved.revision, name=model)
        return LocatedModel(model, repo, family, "hub", repo, resolved.revision)
    folder = Path(resolved.ref)
    family = family_of_folder(folder, model if resolved.where != "folder" else None)
    return LocatedModel(model, resolved.ref, family, resolved.where, resolved.repo, resolved.hub_revision)


def family_of_folder(folder: Path, name: str | None = None) -> Family:
    """The family of a model folder, from the first of `FAMILY_FILES` it holds (`name`: the model's name in
    messages; None: the folder).

    Raises:
        DepthUnavailableError: neither file, unreadable JSON, or a model that is not a depth model we run.
    """
    name = str(folder) if name is None else name
    for filename in FAMILY_FILES:
        if (folder / filename).is_file():
            return family_of_file(folder / filename, name)
    raise DepthUnavailableError(
        f"depth model {name}: not a model folder (it has neither config.json nor model_index.json)"
    )


def family_of_file(path: Path, name: str) -> Family:
    """The family named by a `model_index.json` (diffusers) or `config.json` (transformers) file."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DepthUnavailableError(f"depth model {name}: {path.name} is not readable JSON ({one_line(exc)})") from exc
    if not isinstance(config, dict):
        raise DepthUnavailableError(f"depth model {name}: {path.name} does not hold a JSON object")
    if path.name == "model_index.json":
        pipeline = config.get("_class_name")
        if pipeline not in MARIGOLD_PIPELINES:
            raise DepthUnavailableError(
                f"depth model {name}: a diffusers pipeline of class {pipeline!r}, not one of {MARIGOLD_PIPELINES}"
            )
        return "marigold"
    model_type = config.get("model_type")
    if model_type not in TRANSFORMERS_OUTPUTS:
        raise DepthUnavailableError(
            f"depth model {name}: model_type {model_type!r} is not a depth model we run "
            f"(expected one of {', '.join(TRANSFORMERS_OUTPUTS)})"
        )
    return "transformers"


def probe_hub(repo: str, *, revision: str | None = None, name: str | None = None) -> Family:
    """Ask the Hub (within `PROBE_TIMEOUT_S`) which family file a repository holds at `revision` (None: main);
    fetch it and read it. `name` is the model's name in messages (a registry name, else `repo`).

    Raises:
        DepthUnavailableError: no network, no such (or a gated) repository, or no family file.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    name = repo if name is None else name
    how = f"refocus models fetch {name}" if name != repo else f"hf download {repo}"
    for filename in FAMILY_FILES:
        try:
            get_hf_file_metadata(hf_hub_url(repo, filename, revision=revision), timeout=PROBE_TIMEOUT_S)
            path = hf_hub_download(repo, filename, revision=revision, etag_timeout=PROBE_TIMEOUT_S)
        except GatedRepoError as exc:
            raise DepthUnavailableError(
                f"depth model {name} ({repo}) is gated on the Hugging Face Hub; accept its terms and run "
                "`hf auth login`"
            ) from exc
        except RepositoryNotFoundError as exc:
            raise DepthUnavailableError(
                f"depth model {name}: no such model on the Hugging Face Hub (or it is private)"
            ) from exc
        except EntryNotFoundError:
            continue
        except Exception as exc:  # any transport failure (DNS, refused, timeout, proxy) means "cannot download"
            raise DepthUnavailableError(
                f"depth model {name} is not in the Hugging Face cache and could not be downloaded "
                f"({one_line(exc)}); run `{how}` where there is network or pass --depth-model PATH"
            ) from exc
        return family_of_file(Path(path), name)
    raise DepthUnavailableError(f"depth model {name}: the Hub repository has neither config.json nor model_index.json")
