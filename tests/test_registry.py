"""The model registry and its one loader: the shipped registry, `refocus models`, the Hugging Face cache at a
pinned revision (built by hand in a temporary folder), the one-line errors, and registry names going through the
same loader as folders. The network is never reached (offline, and sockets refuse)."""

from __future__ import annotations

import json
import re
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.errors import DepthUnavailableError, ModelUnavailableError, SettingsError
from refocus_cli.registry import ModelEntry, default_entry, fetch_model, load_registry, presence, resolve_model
from refocus_cli.registry import registry as registry_module
from refocus_cli.registry.registry import KINDS
from refocus_cli.shipped import PROJECT_ROOT

SD_TURBO_REVISION = "b261bac6fd2cf515557d5d0707481eafa0485ec2"


@pytest.fixture(autouse=True)
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Offline, an empty Hugging Face cache, and sockets that refuse; yields the cache folder."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # read at import: patch it too
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield cache


def cache_snapshot(cache: Path, repo: str, revision: str, files: dict[str, str], *, ref: str | None = None) -> Path:
    """A snapshot in the Hugging Face cache layout: models--org--name/snapshots/<revision>/..., and refs/<ref>."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / revision
    for name, text in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_text(text)
    if ref is not None:
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(revision)
    return snapshot


def write_registry(path: Path, text: str, monkeypatch: pytest.MonkeyPatch | None = None) -> Path:
    path.write_text(text)
    if monkeypatch is not None:
        monkeypatch.setattr(registry_module, "REGISTRY_PATH", path)
    return path


def one_line(result: object) -> str:
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert result.exit_code == 1 and len(lines) == 1, result.output  # type: ignore[attr-defined]
    assert lines[0].startswith("refocus: error: ")
    return lines[0]


# ------------------------------------------------------------------------------------------ the shipped registry


def test_shipped_registry_parses_with_one_default_per_kind() -> None:
    entries = load_registry()
    assert {"depth-anything-v2-small", "depth-anything-v2-base", "marigold-depth", "refocus-small"} <= set(entries)
    assert {"sd-turbo", "sdxl-turbo", "flux-schnell"} <= set(entries)
    for kind in KINDS:
        defaults = [entry.name for entry in entries.values() if entry.kind == kind and entry.default]
        assert len(defaults) == 1, kind
    assert [default_entry(kind).name for kind in KINDS] == ["depth-anything-v2-small", "refocus-small", "sd-turbo"]
    assert entries["flux-schnell"].model_class == "FluxPipeline" and entries["flux-schnell"].resolution_px == 1024
    assert entries["flux-schnell"].dtype == "bfloat16" and (
        entries["flux-schnell"].steps,
        entries["sd-turbo"].steps,
    ) == (4, 1)
    assert entries["sd-turbo"].guidance == 0.0 and entries["refocus-small"].steps is None
    assert entries["sd-turbo"].revision == SD_TURBO_REVISION


def test_every_revision_is_a_commit_or_listed_as_unpinned() -> None:
    for entry in load_registry().values():
        if entry.repo is None:
            assert entry.revision is None and entry.local is not None, entry.name
        elif entry.pinned:
            assert re.fullmatch(r"[0-9a-f]{40}", entry.revision or ""), entry.name
            assert entry.short_revision == (entry.revision or "")[:7]
        else:
            assert entry.revision == "main" and entry.short_revision == "unpinned", entry.name


def test_the_depth_code_takes_its_default_from_the_registry() -> None:
    from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL

    assert DEFAULT_DEPTH_MODEL == default_entry("depth").name == "depth-anything-v2-small"


# ------------------------------------------------------------------------------------------------ refocus models


def test_models_lists_every_entry_with_its_kind_and_presence() -> None:
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│ ")}
    for entry in load_registry().values():
        row = rows[f"{entry.name} *" if entry.default else entry.name]  # * marks the default of its kind
        assert f" {entry.kind} " in row and f" {entry.short_revision} " in row
        expected = "bundled: models/refocus-small" if entry.name == "refocus-small" else "missing"
        assert row.rstrip(" │").endswith(expected), row
    assert len(rows) == len(load_registry())
    assert " unpinned " in rows["marigold-depth"] and "refocus models fetch NAME" in result.stdout


def test_models_json_is_one_object_per_model() -> None:
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["name"] for record in records] == list(load_registry())
    by_name = {record["name"]: record for record in records}
    assert by_name["refocus-small"]["present"] == "bundled"
    assert by_name["refocus-small"]["path"] == str(PROJECT_ROOT / "models" / "refocus-small")
    assert (by_name["sd-turbo"]["present"], by_name["sd-turbo"]["path"]) == ("missing", None)
    assert by_name["sd-turbo"]["revision"] == SD_TURBO_REVISION and by_name["sd-turbo"]["pinned"] is True
    assert by_name["marigold-depth"]["pinned"] is False


def test_models_help_names_fetch() -> None:
    result = CliRunner().invoke(app, ["models", "--help"])
    assert result.exit_code == 0 and "fetch" in result.stdout and "--json" in result.stdout


def test_a_model_in_the_cache_at_its_pinned_revision_is_listed_and_resolved(empty_cache: Path) -> None:
    snapshot = cache_snapshot(
        empty_cache, "stabilityai/sd-turbo", SD_TURBO_REVISION, {"model_index.json": "{}"}, ref="main"
    )
    records = {
        record["name"]: record
        for record in map(json.loads, CliRunner().invoke(app, ["models", "--json"]).stdout.splitlines())
    }
    assert records["sd-turbo"]["present"] == "cache" and records["sd-turbo"]["path"] == str(snapshot)
    rows = CliRunner().invoke(app, ["models"]).stdout
    assert any(line.startswith("│ sd-turbo * ") and line.rstrip(" │").endswith("cache") for line in rows.splitlines())
    resolved = resolve_model("sd-turbo", kind="text-to-image", offline=True)
    assert (resolved.name, resolved.ref, resolved.where, resolved.revision) == (
        "sd-turbo",
        str(snapshot),
        "cache",
        None,
    )
    assert resolved.local_files_only and resolved.entry is not None and resolved.entry.repo == "stabilityai/sd-turbo"
    assert resolve_model(None, kind="text-to-image", offline=True).ref == str(snapshot)  # the kind's default


def test_a_snapshot_at_another_revision_does_not_count(empty_cache: Path) -> None:
    cache_snapshot(empty_cache, "stabilityai/sd-turbo", "1" * 40, {"model_index.json": "{}"}, ref="main")
    entry = load_registry()["sd-turbo"]
    assert presence(entry).where == "missing"


def test_an_unpinned_entry_is_found_at_main(empty_cache: Path) -> None:
    snapshot = cache_snapshot(
        empty_cache, "prs-eth/marigold-depth-v1-1", "2" * 40, {"model_index.json": "{}"}, ref="main"
    )
    assert presence(load_registry()["marigold-depth"]).path == snapshot


# -------------------------------------------------------------------------------------------- the loader's rules


def test_a_missing_registered_model_is_one_line_naming_fetch() -> None:
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model("sd-turbo", kind="text-to-image", offline=False, download=False)
    assert str(caught.value) == (
        "text-to-image model sd-turbo (stabilityai/sd-turbo@b261bac) is not on this machine; run "
        "`refocus models fetch sd-turbo` where there is network, or pass --model PATH"
    )


def test_downloading_on_first_use_resolves_to_the_hub_at_the_pinned_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    resolved = resolve_model("sd-turbo", kind="text-to-image", offline=False, download=True)
    assert (resolved.ref, resolved.revision, resolved.where) == ("stabilityai/sd-turbo", SD_TURBO_REVISION, "hub")
    assert not resolved.local_files_only
    with pytest.raises(ModelUnavailableError, match="offline mode"):
        resolve_model("sd-turbo", kind="text-to-image", offline=True, download=True)


def test_a_folder_is_taken_as_it_is(tmp_path: Path) -> None:
    resolved = resolve_model(str(tmp_path), kind="text-to-image", offline=True)
    assert (resolved.ref, resolved.where, resolved.revision, resolved.entry) == (str(tmp_path), "folder", None, None)


@pytest.mark.parametrize(
    ("model", "kind", "error", "expected"),
    [
        ("sd-turbo", "depth", DepthUnavailableError, "sd-turbo is a text-to-image model, not a depth model"),
        ("nothing-here", "text-to-image", ModelUnavailableError, "no such folder, not a registered model"),
        ("./no/such/folder", "depth", DepthUnavailableError, "no such folder"),
        ("someone/not-cached", "text-to-image", ModelUnavailableError, "run `hf download someone/not-cached`"),
    ],
)
def test_what_cannot_be_resolved_is_one_line(model: str, kind: str, error: type[Exception], expected: str) -> None:
    with pytest.raises(error) as caught:
        resolve_model(model, kind=kind, offline=True)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelUnavailableError, match="is a file, not a model folder"):
        resolve_model(str(tmp_path / "weights.bin"), kind="refocus", offline=True)


def test_the_refocus_default_is_the_bundled_checkpoint() -> None:
    from refocus_cli.learned.engine import resolve_checkpoint

    resolved = resolve_model(None, kind="refocus", offline=True)
    assert (resolved.name, resolved.where) == ("refocus-small", "bundled")
    assert Path(resolved.ref) == PROJECT_ROOT / "models" / "refocus-small"
    assert resolve_checkpoint(None) == resolve_checkpoint("refocus-small") == Path(resolved.ref)


def test_learned_engine_with_an_unknown_model_is_one_line(photo_with_depth: tuple[Path, Path], tmp_path: Path) -> None:
    photo, depth = photo_with_depth
    args = ["image", str(photo), "--depth", str(depth), "--engine", "learned", "-o", str(tmp_path / "x.png")]
    line = one_line(CliRunner().invoke(app, [*args, "--model", "sd-nothing"]))
    assert "sd-nothing" in line and "not a registered model" in line and "refocus models" in line
    line = one_line(CliRunner().invoke(app, [*args, "--model", "sd-turbo"]))
    assert "sd-turbo is a text-to-image model, not a refocus model" in line
    assert not (tmp_path / "x.png").exists()


def test_depth_model_by_name_missing_offline_is_one_line(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "p.png")
    result = CliRunner().invoke(
        app,
        ["image", str(tmp_path / "p.png"), "--depth", "model", "--depth-model", "depth-anything-v2-small",
         "-o", str(tmp_path / "o.png")],
    )  # fmt: skip
    line = one_line(result)
    assert "depth-anything-v2-small" in line and "`refocus models fetch depth-anything-v2-small`" in line


def test_a_registered_name_loads_through_the_same_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo_with_depth: tuple[Path, Path]
) -> None:
    """A registry entry whose `local` folder holds a tiny depth model: `--depth-model NAME` estimates with it."""
    import torch
    from test_depth_learned import save_depth_anything

    from refocus_cli.depth import learned

    folder = save_depth_anything(tmp_path / "tiny")
    write_registry(
        tmp_path / "registry.toml",
        textwrap.dedent(f"""
        [tiny-depth]
        kind = "depth"
        default = true
        local = "{folder}"
        class = "AutoModelForDepthEstimation"
        resolution = 28
        dtype = "float32"
        licence = "Apache-2.0"
        size_mb = 0.1
        used_for = "tests"
        """),
        monkeypatch,
    )
    entry = load_registry()["tiny-depth"]
    assert isinstance(entry, ModelEntry) and presence(entry).path == folder
    resolved = resolve_model("tiny-depth", kind="depth", offline=True, download=True)
    assert (resolved.ref, resolved.where) == (str(folder), "bundled")
    learned._estimator.cache_clear()
    torch.manual_seed(0)
    by_name = learned.estimate_depth(torch.rand(1, 3, 20, 30), "tiny-depth", device=torch.device("cpu"), offline=True)
    assert by_name.source == "model:tiny-depth" and by_name.disparity.shape == (1, 1, 20, 30)
    photo, _ = photo_with_depth
    result = CliRunner().invoke(
        app,
        ["image", str(photo), "--depth", "model", "--depth-model", "tiny-depth", "--json", "-o",
         str(tmp_path / "o.png")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["depth_source"] == "model:tiny-depth"
    learned._estimator.cache_clear()


# ----------------------------------------------------------------------------------------------------- fetching


def test_fetch_of_an_unknown_name_is_one_line() -> None:
    line = one_line(CliRunner().invoke(app, ["models", "fetch", "nope"]))
    assert "no registered model named 'nope'" in line and "refocus models" in line


def test_fetch_offline_is_one_line() -> None:
    line = one_line(CliRunner().invoke(app, ["models", "fetch", "sd-turbo"]))
    assert "offline mode" in line and "sd-turbo" in line


def test_fetch_of_the_bundled_model_says_where_it_is() -> None:
    result = CliRunner().invoke(app, ["models", "fetch", "refocus-small"])
    assert result.exit_code == 0 and result.stdout.strip().endswith(str(PROJECT_ROOT / "models" / "refocus-small"))


def test_fetch_downloads_the_pinned_revision_and_failures_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[tuple[str, dict[str, object]]] = []

    def fake_download(repo: str, **kwargs: object) -> str:
        calls.append((repo, kwargs))
        return "/cache/snapshot"

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert fetch_model("sd-turbo") == Path("/cache/snapshot")
    repo, kwargs = calls[0]
    assert repo == "stabilityai/sd-turbo" and kwargs["revision"] == SD_TURBO_REVISION
    assert kwargs["allow_patterns"] == ["model_index.json", "*/*"]  # the pipeline's folders, not single files

    def failing_download(repo: str, **kwargs: object) -> str:
        raise ConnectionError("name resolution failed\nmore detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", failing_download)
    line = one_line(CliRunner().invoke(app, ["models", "fetch", "depth-anything-v2-small"]))
    assert line.endswith("cannot fetch depth-anything-v2-small (depth-anything/Depth-Anything-V2-Small-hf@5426e4f): "
                         "name resolution failed")  # fmt: skip


# ------------------------------------------------------------------------------------------- a malformed registry


VALID = """
[ok]
kind = "depth"
repo = "org/ok"
revision = "main"
class = "AutoModelForDepthEstimation"
resolution = 518
dtype = "float32"
licence = "MIT"
size_mb = 1
used_for = "tests"
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("", "colour = 'red'\n"), "model ok: unknown key colour"),
        (('licence = "MIT"\n', ""), "model ok: missing licence"),
        (('kind = "depth"', 'kind = "audio"'), "model ok: kind 'audio' is not one of depth, refocus, text-to-image"),
        (('dtype = "float32"', 'dtype = "int8"'), "model ok: dtype 'int8' is not one of"),
        (("resolution = 518", 'resolution = "big"'), "model ok: resolution must be a whole number"),
        (('revision = "main"\n', ""), "model ok: a repo needs a revision"),
        (("[ok]", "[ok"), "invalid TOML"),
        (("[ok]", "[Not_A_Name]"), "a name is lower-case letters"),
        (("", "steps = 0\n"), "model ok: steps must be 1 or more"),
    ],
)
def test_a_malformed_registry_is_one_settings_error_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    path = write_registry(tmp_path / "registry.toml", VALID.replace(old, new, 1) if old else VALID + new)
    with pytest.raises(SettingsError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_two_defaults_for_one_kind_are_refused(tmp_path: Path) -> None:
    twice = VALID.replace('kind = "depth"', 'kind = "depth"\ndefault = true')
    path = write_registry(tmp_path / "registry.toml", twice + twice.replace("[ok]", "[also-ok]"))
    with pytest.raises(SettingsError, match="model also-ok: a second default for kind depth"):
        load_registry(path)


def test_a_malformed_registry_through_the_cli_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_registry(tmp_path / "registry.toml", VALID + "colour = 'red'\n", monkeypatch)
    line = one_line(CliRunner().invoke(app, ["models"]))
    assert "registry.toml: model ok: unknown key colour" in line
