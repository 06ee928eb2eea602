"""One registry and one loader for every learned model: `registry.toml` describes each model (Hub id, pinned
revision, class, resolution, dtype, licence, size); `resolve_model` finds the one a command names, offline first;
`fetch_model` downloads one. `refocus models` lists them.

Light to import: no torch, transformers or diffusers; huggingface_hub only when the cache is looked at.
"""

from refocus_cli.registry.fetch import fetch_model
from refocus_cli.registry.registry import ModelEntry, default_entry, load_registry
from refocus_cli.registry.resolve import Presence, ResolvedModel, presence, resolve_model

__all__ = [
    "ModelEntry",
    "Presence",
    "ResolvedModel",
    "default_entry",
    "fetch_model",
    "load_registry",
    "presence",
    "resolve_model",
]
