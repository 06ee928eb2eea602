"""`refocus bench`: one quick run through the CLI (its JSON, its table, its file), the orderings that are
reliable even at quick sizes, bad options as one line, and the small functions behind it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from refocus_cli.bench.clips import write_static_noisy_clip
from refocus_cli.bench.engines import NO_CHECKPOINT_NOTE, find_checkpoint, learned_engines
from refocus_cli.bench.flicker import read_frame_folder
from refocus_cli.bench.plan import QUICK_PLAN
from refocus_cli.bench.report import (
    SECTIONS,
    BenchReport,
    BenchRequest,
    BenchRow,
    BenchSection,
    Environment,
    parse_sections,
)
from refocus_cli.bench.speed import estimated_gather_s
from refocus_cli.bench.table import print_report
from refocus_cli.cli import app
from refocus_cli.errors import SettingsError
from refocus_cli.metrics import temporal_flicker


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    """`refocus bench --quick --json --out FILE`, once for the module: (the document, stdout, the file). Its real
    section is given a folder with no stacks, as on CI (tests/test_bench_real.py runs it on real stacks)."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    no_stacks = tmp_path_factory.mktemp("no-stacks")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        code, stdout, stderr = invoke(
            "bench", "--quick", "--json", "--device", "cpu", "--out", str(out), "--data", str(no_stacks)
        )
    assert code == 0, stderr
    return json.loads(stdout), stdout, out


def rows_of(document: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return document[section]["rows"]


def test_quick_json_has_speed_and_fidelity_with_baselines(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    document, _, _ = quick_run
    assert document["quick"] is True and document["engines"] == ["physics", "learned"]  # models/refocus-small
    assert {"torch", "device_name", "cpu_count", "date"} <= set(document["environment"])
    assert document["environment"]["device"] == "cpu"
    assert rows_of(document, "real") == [] and "the section is skipped" in document["real"]["notes"][0]
    for section in SECTIONS:
        rows = rows_of(document, section)
        assert rows or section in ("real", "peers"), section
        for row in rows:
            assert row["baseline"] and row["unit"] is not None and row["better"] in ("higher", "lower"), row
            assert math.isfinite(row["value"]) and math.isfinite(row["baseline_value"]), row
            assert math.isfinite(row["gain"]), row


def test_quick_speed_rows_cover_every_case(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    rows = rows_of(quick_run[0], "speed")
    plan = QUICK_PLAN.speed
    for width, height in plan.sizes_wh:
        for k in plan.blurs_k_px:
            case_rows = [r for r in rows if r["case"] == f"{width}x{height}, K {k:g}"]
            assert {r["name"] for r in case_rows} == {"physics", "learned"}
            case = {r["metric"]: r for r in case_rows if r["name"] == "physics"}
            assert set(case) == {"median time", "throughput", "peak RSS"}
            assert all(r["baseline"] == "naive gather" for r in case_rows)
            seconds, throughput = case["median time"]["value"], case["throughput"]["value"]
            assert throughput == pytest.approx(width * height / 1e6 / seconds, rel=1e-3)
            assert 50 < case["peak RSS"]["value"] < 8000 and 50 < case["peak RSS"]["baseline_value"] < 8000
    video = [r for r in rows if r["metric"] == "fps"]
    assert len(video) == 1 and video[0]["value"] > 0 and video[0]["baseline"] == "no stabilisation"


def test_quick_fidelity_orderings(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    """The orderings that hold scene by scene: the layered renderer beats the naive gather at every K, and
    stabilised depth flickers several times less."""
    rows = rows_of(quick_run[0], "fidelity")
    renders = [r for r in rows if r["name"] == "physics" and r["metric"] == "PSNR"]
    hard = [r for r in renders if "hard scenes" in r["case"]]
    assert len(renders) - len(hard) == len(hard) == len(QUICK_PLAN.fidelity.blurs_k_px)
    for row in renders:
        assert row["value"] > row["baseline_value"] + 1.0, row
    assert all("plain 32-layer FFT" in row["note"] for row in hard)
    (flicker,) = [r for r in rows if r["metric"] == "flicker"]
    assert flicker["value"] * 2 < flicker["baseline_value"], flicker
    whole, band = [r for r in rows if r["name"] == "focus stacking"]
    assert whole["metric"] == "PSNR" and "depth-edge band" in band["metric"]
    assert (
        whole["baseline"] == band["baseline"] == "max-of-Laplacian" and whole["value"] > 28 and "hard" in whole["case"]
    )
    assert "within 4 px of an edge" in band["note"]
    restore = [r for r in rows if r["name"] in ("restore", "restore, true blur")]
    assert {r["name"] for r in restore} == {"restore", "restore, true blur"}
    assert len(restore) == 4 and all(r["baseline"] == "no restore" for r in restore)


def test_the_shipped_learned_engine_has_rows_beside_the_physics_engine(
    quick_run: tuple[dict[str, Any], str, Path],
) -> None:
    document, _, _ = quick_run
    assert NO_CHECKPOINT_NOTE not in document["notes"]
    for section in ("speed", "fidelity"):  # the real section has no stacks here
        learned = {(r["case"], r["metric"]) for r in rows_of(document, section) if r["name"] == "learned"}
        physics = {(r["case"], r["metric"]) for r in rows_of(document, section) if r["name"] == "physics"}
        assert learned and learned == physics, section


def test_out_file_holds_the_same_document(quick_run: tuple[dict[str, Any], str, Path]) -> None:
    document, stdout, out = quick_run
    assert json.loads(out.read_text()) == document == json.loads(stdout)
    assert [p.name for p in out.parent.iterdir()] == ["bench.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sections", "speed,colour"], "--sections must name some of speed, fidelity, real"),
        (["--device", "tpu"], "--device must be auto, cpu or cuda"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--model", "no-such-folder"], "not a checkpoint folder"),
        (["--out", "no-such-folder/bench.json"], "folder does not exist"),
    ],
)
def test_bad_options_are_one_line(args: list[str], message: str) -> None:
    code, stdout, stderr = invoke("bench", "--quick", *args)
    lines = stderr.strip().splitlines()
    assert code == 1 and len(lines) == 1 and stdout == "", stderr
    assert lines[0].startswith("refocus: error: ") and message in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_is_one_line() -> None:
    code, _, stderr = invoke("bench", "--quick", "--device", "cuda", "--sections", "fidelity")
    assert code == 1 and "no CUDA device" in stderr and len(stderr.strip().splitlines()) == 1


def test_existing_out_file_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    out.write_text("{}")
    code, _, stderr = invoke("bench", "--quick", "--out", str(out))
    assert code == 1 and "--overwrite" in stderr and out.read_text() == "{}"


def test_bench_help_stays_light() -> None:
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom refocus_cli.cli import app\n"
        "assert CliRunner().invoke(app, ['bench', '--help']).exit_code == 0\n"
        "print(','.join(m for m in ('torch', 'av', 'numpy', 'PIL') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stderr


# --- the pieces -----------------------------------------------------------------------------------------------


def test_parse_sections_keeps_the_report_order() -> None:
    assert parse_sections("fidelity") == ("fidelity",)
    assert parse_sections(" fidelity , speed ") == ("speed", "fidelity")
    with pytest.raises(SettingsError):
        parse_sections(",")


def test_request_checks_its_sections_and_seed() -> None:
    with pytest.raises(SettingsError):
        BenchRequest(sections=("speed", "colour"))
    with pytest.raises(SettingsError):
        BenchRequest(seed=-3)


@pytest.mark.parametrize(
    ("row", "gain", "text"),
    [
        (BenchRow("p", "c", "PSNR", 40.0, "b", 41.0, "dB", "higher"), -1.0, "-1.00 dB"),
        (BenchRow("p", "c", "SSIM", 0.99, "b", 0.98, "", "higher"), 0.01, "+0.0100"),
        (BenchRow("p", "c", "median time", 2.0, "b", 1.0, "s", "lower"), 0.5, "0.50x"),
        (BenchRow("p", "c", "fps", 30.0, "b", 10.0, "fps", "higher"), 3.0, "3.00x"),
        (BenchRow("p", "c", "flicker", 2.0, "b", 7.0, "levels", "lower"), 3.5, "3.50x"),
        (BenchRow("p", "c", "median time", 2.0, "b", None, "s", "lower"), None, "not run"),
    ],
)
def test_row_gain_is_better_than_baseline_when_positive_or_above_one(
    row: BenchRow, gain: float | None, text: str
) -> None:
    assert row.gain() == (None if gain is None else pytest.approx(gain))
    assert row.gain_text() == text
    assert row.to_record()["baseline_value"] == row.baseline_value


def test_gather_estimate_grows_with_size_and_blur() -> None:
    small = estimated_gather_s(640, 480, 8.0, "cpu")
    assert estimated_gather_s(1280, 960, 8.0, "cpu") == pytest.approx(4 * small)
    assert estimated_gather_s(640, 480, 24.0, "cpu") > 10 * small
    assert estimated_gather_s(640, 480, 24.0, "cuda") < estimated_gather_s(640, 480, 24.0, "cpu")


def test_checkpoint_search_and_the_note_for_each_outcome(tmp_path: Path) -> None:
    assert find_checkpoint(None, tmp_path) is None
    assert learned_engines(None, "cpu", tmp_path) == ([], [NO_CHECKPOINT_NOTE])
    checkpoint = tmp_path / "refocus-learned"
    checkpoint.mkdir()
    (checkpoint / "model_index.json").write_text("{}")
    assert find_checkpoint(None, tmp_path) == checkpoint
    engines, notes = learned_engines(None, "cpu", tmp_path)  # loaded when it first renders
    assert [engine.name for engine in engines] == ["learned"] and engines[0].checkpoint == checkpoint and not notes
    with pytest.raises(SettingsError, match="not a checkpoint folder"):
        find_checkpoint(tmp_path, tmp_path)


def test_temporal_flicker_of_a_still_clip_is_zero_and_counts_changes() -> None:
    still = torch.ones(5, 3, 4, 4)
    assert temporal_flicker(still) == 0.0
    alternating = torch.zeros(4, 1, 2, 2)
    alternating[1::2] = 10.0
    assert temporal_flicker(alternating) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        temporal_flicker(torch.ones(1, 3, 4, 4))


def test_static_noisy_clip_has_one_image_and_changing_depth(tmp_path: Path) -> None:
    clip = write_static_noisy_clip(tmp_path, 32, 24, 3)
    frames, depths = read_frame_folder(clip.clip), read_frame_folder(clip.depth)
    assert frames.shape == (3, 3, 24, 32) and depths.shape[0] == 3
    assert temporal_flicker(frames) == 0.0 and temporal_flicker(depths) > 1.0


def test_table_prints_every_row_and_note() -> None:
    from rich.console import Console

    rows = (
        BenchRow("physics", "640x480, K 8", "median time", 0.25, "naive gather", 0.5, "s", "lower"),
        BenchRow("physics", "4000x3000, K 24", "median time", 8.0, "naive gather", None, "s", "lower", "not run"),
    )
    env = Environment("2.13", "cpu", "a CPU", 2, 2, "3.11", "Linux", "2025-01-01T00:00:00+00:00")
    report = BenchReport(BenchRequest(quick=True), env, (BenchSection("speed", rows, ("a section note",)),), ("n1",))
    console = Console(width=160, record=True)
    print_report(report, console)
    text = console.export_text()
    assert "Speed" in text and "2.00x" in text and "not run" in text
    assert "note: a section note" in text and "note: n1" in text and "quick run" in text
