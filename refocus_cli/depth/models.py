"""Where a learned depth model's files are: a local folder, the Hugging Face cache, or the Hub.

A model is named by a local folder path or a Hub id ("org/name"). Its family follows from the files at its
root: `model_index.json` naming `MarigoldDepthPipeline` is a diffusers Marigold pipeline; `config.json` with a
`model_type` that transformers maps to a depth-estimation model is a transformers depth model.

A Hub id is served from the cache when its files are there; otherwise, unless offline, the Hub is probed with a
short timeout before anything is downloaded, so that a machine without network fails in seconds (the Hub
client's own download path retries for a minute) with one line that says how to get the model.

Nothing here imports transformers or diffusers; huggingface_hub is imported only when a Hub id is looked up.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from refocus_cli.errors import DepthUnavailableError

Family = Literal["transformers", "marigold"]
Where = Literal["folder", "cache", "hub"]

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
"""Depth Anything V2 Small (Apache-2.0), about 100 MB: the model `refocus` uses unless told otherwise."""
TRANSFORMERS_OUTPUTS = {"depth_anything": "disparity", "dpt": "disparity"}
"""What `predicted_depth` holds for each transformers `model_type` we run: relative inverse depth (MiDaS-style
disparity, affine-invariant). A Depth Anything config with `depth_estimation_type == "metric"` holds metres."""

MARIGOLD_PIPELINES = ("MarigoldDepthPipeline",)
"""diffusers pipeline classes (`_class_name` in model_index.json) that we run."""
PROBE_TIMEOUT_S = 5.0
"""Longest wait for the Hub to answer before a download is given up."""
FAMILY_FILES = ("model_index.json", "config.json")
"""Files whose presence (first match wins) names a model's family."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = ("1", "on", "yes", "true")


@dataclass(frozen=True)
class LocatedModel:
    """A depth model found on disk or on the Hub.

    Attributes:
        name: the model as the user named it (Hub id or folder path), for messages and `DepthMap.source`.
        ref: what to hand to `from_pretrained`: the folder path or the Hub id.
        family: "transformers" or "marigold".
        where: "folder" (a local folder), "cache" (a Hub id in the Hugging Face cache) or "hub" (to download).
    """

    name: str
    ref: str
    family: Family
    where: Where

    @property
    def local_files_only(self) -> bool:
        """Whether every file is expected on disk already (no download)."""
        return self.where != "hub"


def is_offline(offline: bool) -> bool:
    """Offline when asked to, or when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set in the environment."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return offline or env.strip().lower() in _TRUE


def is_hub_id(model: str) -> bool:
    """Whether `model` has the shape of a Hub model id, "org/name"."""
    return bool(_HUB_ID.match(model)) and ".." not in model


def locate_model(model: str, *, offline: bool) -> LocatedModel:
    """Find a depth model: an existing folder, else a Hub id in the cache, else (not offline) on the Hub.

    Raises:
        DepthUnavailableError: no such folder, a folder or repository that is not a depth model we run, not
            cached while offline, or the Hub unreachable (one line each).
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        return LocatedModel(model, str(folder), family_of_folder(folder), "folder")
    if folder.exists():
        raise DepthUnavailableError(f"depth model {model}: is a file, not a model folder")
    if not is_hub_id(model):
        raise DepthUnavailableError(
            f"depth model {model}: no such folder (and not a Hugging Face model id of the form org/name)"
        )
    cached = cached_family(model)
    if cached is not None:
        return LocatedModel(model, model, cached, "cache")
    if is_offline(offline):
        raise DepthUnavailableError(not_cached_message(model))
    return LocatedModel(model, model, probe_hub(model), "hub")


def not_cached_message(model: str) -> str:
    """The one line for a Hub id that is not cached while offline."""
    return (
        f"depth model {model} is not in the Hugging Face cache and offline mode (--offline or HF_HUB_OFFLINE=1) "
        f"prevents downloading it; run `hf download {model}` while online or pass --depth-model PATH"
    )


def family_of_folder(folder: Path) -> Family:
    """The family of a model folder, from the first of `FAMILY_FILES` it holds.

    Raises:
        DepthUnavailableError: neither file, unreadable JSON, or a model that is not a depth model we run.
    """
    for filename in FAMILY_FILES:
        if (folder / filename).is_file():
            return family_of_file(folder / filename, str(folder))
    raise DepthUnavailableError(
        f"depth model {folder}: not a model folder (it has neither config.json nor model_index.json)"
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


def cached_family(model: str) -> Family | None:
    """The family of a Hub id whose family file is in the Hugging Face cache; None when it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    for filename in FAMILY_FILES:
        found = try_to_load_from_cache(model, filename)
        if isinstance(found, str):
            return family_of_file(Path(found), model)
    return None


def probe_hub(model: str) -> Family:
    """Ask the Hub (within `PROBE_TIMEOUT_S`) which family file a repository holds; fetch it and read it.

    Raises:
        DepthUnavailableError: no network, no such (or a gated) repository, or no family file.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    for filename in FAMILY_FILES:
        try:
            get_hf_file_metadata(hf_hub_url(model, filename), timeout=PROBE_TIMEOUT_S)
            path = hf_hub_download(model, filename, etag_timeout=PROBE_TIMEOUT_S)
        except GatedRepoError as exc:
            raise DepthUnavailableError(
                f"depth model {model} is gated on the Hugging Face Hub; accept its terms and run `hf auth login`"
            ) from exc
        except RepositoryNotFoundError as exc:
            raise DepthUnavailableError(
                f"depth model {model}: no such model on the Hugging Face Hub (or it is private)"
            ) from exc
        except EntryNotFoundError:
            continue
        except Exception as exc:  # any transport failure (DNS, refused, timeout, proxy) means "cannot download"
            raise DepthUnavailableError(
                f"depth model {model} is not in the Hugging Face cache and could not be downloaded "
                f"({one_line(exc)}); run `hf download {model}` where there is network or pass --depth-model PATH"
            ) from exc
        return family_of_file(Path(path), model)
    raise DepthUnavailableError(f"depth model {model}: the Hub repository has neither config.json nor model_index.json")


def one_line(error: BaseException, limit: int = 160) -> str:
    """The first non-empty line of an error message, shortened; the error's type when it has no message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
