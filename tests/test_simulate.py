"""`refocus simulate`: every manifest row checked against its files and the sampled distributions; the same
seed gives the same bytes, whoever renders (this process, worker processes, a Ray cluster); a killed run
resumes to the same end; bad input gives one line."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.filters import gaussian_blur
from refocus_cli.io.images import read_image
from refocus_cli.render.stacking import blend_stack
from refocus_cli.render.synthetic_stacks import similarity_warp
from refocus_cli.simulate.capture import BREATHING, MAX_DRIFT_PX, MAX_FLICKER, FrameCapture, draw_captures
from refocus_cli.simulate.settings import SimulationSettings, settings_from_record
from refocus_cli.simulate.sources import (
    assign_splits,
    empty_split_note,
    find_photos,
    plan_scenes,
    scenes_for_every_split,
    split_counts,
)

SMALL = """
[scene]
size = [40, 48]
[pairs]
per_scene = 2
all_in_focus_source = 0.3
[blur]
k = {distribution = "uniform", low = 1.0, high = 6.0}
[stack]
frames = 3
[render]
max_aperture_samples = 32
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def settings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "small.toml"
    path.write_text(SMALL)
    return path


def simulate_args(out: Path, settings_file: Path, *extra: str, count: int = 6, seed: int = 3) -> list[str]:
    return ["simulate", "--source", "procedural", "--out", str(out), "--count", str(count), "--seed", str(seed),
            "--config", str(settings_file), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, settings_file: Path) -> Path:
    out = tmp_path_factory.mktemp("datasets") / "small"
    code, stdout, stderr = invoke(*simulate_args(out, settings_file, "--workers", "1", "--json"))
    assert code == 0, stderr
    assert json.loads(stdout)["pairs"] == 6
    return out


@pytest.fixture(scope="module")
def hard_camera(tmp_path_factory: pytest.TempPathFactory, settings_file: Path) -> Path:
    """Hard scenes whose stacking groups a camera captured (4 pairs, 2 scenes)."""
    out = tmp_path_factory.mktemp("datasets") / "hard-camera"
    code, _, err = invoke(
        *simulate_args(out, settings_file, "--scenes", "hard", "--stacks", "camera", "-q", "--workers", "1", count=4)
    )
    assert code == 0, err
    return out


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder`."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def rows_of(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


# ------------------------------------------------------------------------------------------- the dataset itself


def test_every_manifest_row_matches_its_files_and_the_distributions(dataset: Path) -> None:
    record = json.loads((dataset / "dataset.json").read_text())
    settings = settings_from_record(record["settings"], where="dataset.json")
    assert settings.scene.size == (40, 48) and record["seed"] == 3 and record["count"] == 6
    rows = rows_of(dataset)
    pairs = [row for row in rows if row["kind"] == "pair"]
    stacks = [row for row in rows if row["kind"] == "stack"]
    assert len(pairs) == record["pairs"] == 6 and len(stacks) == record["stacks"] == record["scenes"] == 3
    listed = set()
    for row in rows:
        assert row["size"] == [40, 48] and row["renderer"] == "reference" and row["source"]["kind"] == "procedural"
        scene_files = [row["all_in_focus"], row["depth"]]
        aperture = row["aperture"]
        assert settings.aperture.shape.contains(aperture["shape"])
        if aperture["shape"] == "polygon":
            assert settings.aperture.blades.contains(aperture["blades"])
            assert settings.aperture.rotation_deg.contains(aperture["rotation_deg"])
        renders = [row["input"], row["target"]] if row["kind"] == "pair" else row["frames"]
        for render in renders:
            scene_files.append(render["image"])
            if render.get("all_in_focus"):
                assert render["image"] == row["all_in_focus"] and render["blur_k_px"] == 0.0
                continue
            assert settings.blur.k.contains(render["blur_k_px"]) and render["camera"] is None
            assert 0.0 <= render["focus_disparity"] <= 1.0
            assert 16 <= render["aperture_samples"] <= settings.render.max_aperture_samples
        if row["kind"] == "stack":
            scene_files += [frame["mask"] for frame in row["frames"]] + [row["composite"]]
            focus = [frame["focus_disparity"] for frame in row["frames"]]
            assert len(focus) == 3 and focus == sorted(focus, reverse=True)  # nearest first
            assert len({frame["blur_k_px"] for frame in row["frames"]}) == 1  # one lens for the group
        for name in scene_files:
            path = dataset / name
            assert path.is_file(), name
            with Image.open(path) as image:
                assert image.size == (48, 40)
            listed.add(name)
    on_disk = {str(p.relative_to(dataset)) for p in (dataset / "scenes").rglob("*.png")}
    assert on_disk == listed  # nothing written that the manifest does not name


def test_focus_planes_lie_within_the_scenes_depth_range(dataset: Path) -> None:
    for row in rows_of(dataset):
        disparity = pixels(dataset / row["depth"]).astype(np.float64) / 65535.0
        low, high = np.quantile(disparity, [0.02, 0.98])
        renders = [row["input"], row["target"]] if row["kind"] == "pair" else row["frames"]
        for render in renders:
            if render["focus_disparity"] is not None:
                assert low - 1e-3 <= render["focus_disparity"] <= high + 1e-3


def test_splits_are_by_scene_and_match_the_record(dataset: Path) -> None:
    record = json.loads((dataset / "dataset.json").read_text())
    split_of: dict[str, str] = {}
    for row in rows_of(dataset):
        assert split_of.setdefault(row["scene"], row["split"]) == row["split"]
    for name, counts in record["splits"].items():
        assert sum(1 for split in split_of.values() if split == name) == counts["scenes"]


def test_stacking_group_masks_and_composite(dataset: Path) -> None:
    stack = next(row for row in rows_of(dataset) if row["kind"] == "stack")
    masks = np.stack([pixels(dataset / frame["mask"]) for frame in stack["frames"]]).astype(np.int64)
    assert set(np.unique(masks)) <= {0, 255} and (masks.sum(axis=0) == 255).all()  # one-hot, every pixel owned
    frames = torch.cat([read_image(dataset / frame["image"]).linear for frame in stack["frames"]])
    composite = read_image(dataset / stack["composite"]).linear
    blended = blend_stack(frames.unsqueeze(0), torch.from_numpy(masks / 255.0).float().unsqueeze(0))
    assert float((blended - composite).abs().max()) < 1e-3
    # Each pixel comes from the frame focused nearest its depth.
    disparity = pixels(dataset / stack["depth"]) / 65535.0
    focus = np.array([frame["focus_disparity"] for frame in stack["frames"]])
    nearest = np.abs(disparity[None] - focus[:, None, None]).argmin(axis=0)
    assert (masks.argmax(axis=0) == nearest).mean() > 0.99


# ------------------------------------------------------------------------ hard scenes and camera-captured stacks


def test_hard_scenes_have_5_to_9_layers_and_say_so(hard_camera: Path) -> None:
    rows = rows_of(hard_camera)
    assert {row["source"]["scene_kind"] for row in rows} == {"hard"}
    assert all(5 <= len(row["source"]["layers"]) <= 9 for row in rows)
    scene = json.loads((hard_camera / "dataset.json").read_text())["settings"]["scene"]
    assert (scene["kind"], scene["min_layers"], scene["max_layers"]) == ("hard", 5, 9)


def test_hard_scenes_take_the_layer_counts_they_are_given(tmp_path: Path) -> None:
    settings = tmp_path / "hard.toml"
    settings.write_text(SMALL.replace("[scene]", '[scene]\nkind = "hard"\nmin_layers = 2\nmax_layers = 3'))
    out = tmp_path / "out"
    assert invoke(*simulate_args(out, settings, "--quiet", "--workers", "1", count=4))[0] == 0
    assert all(2 <= len(row["source"]["layers"]) <= 3 for row in rows_of(out))


def test_the_defaults_are_the_ideal_layered_dataset_byte_for_byte(
    dataset: Path, settings_file: Path, tmp_path: Path
) -> None:
    explicit = tmp_path / "explicit"
    assert (
        invoke(
            *simulate_args(explicit, settings_file, "--scenes", "layered", "--stacks", "ideal", "-q", "--workers", "1")
        )[0]
        == 0
    )
    assert tree(explicit) == tree(dataset)
    rows = rows_of(dataset)
    assert not any("scene_kind" in row["source"] or "capture" in row for row in rows)
    assert not any(
        key.startswith("capture") for row in rows if row["kind"] == "stack" for f in row["frames"] for key in f
    )


def test_camera_captured_frames_are_recorded_within_range(hard_camera: Path) -> None:
    for row in (row for row in rows_of(hard_camera) if row["kind"] == "stack"):
        frames = row["frames"]
        scales = [f["capture_scale"] for f in frames]
        middle = frames[len(frames) // 2]
        assert row["capture"] == "camera"
        assert (middle["capture_scale"], middle["capture_shift_xy"], middle["capture_gain"]) == (1.0, [0.0, 0.0], 1.0)
        assert all(a > b for a, b in pairwise(scales))  # breathing grows towards near focus
        assert BREATHING[0] <= scales[0] - scales[-1] <= BREATHING[1]
        assert all(0 <= np.hypot(*f["capture_shift_xy"]) < MAX_DRIFT_PX for f in frames)
        assert all(abs(f["capture_gain"] - 1) <= MAX_FLICKER for f in frames)


@pytest.mark.parametrize("frames", [2, 4, 9])
def test_camera_captures_of_any_stack_length_keep_their_ranges(frames: int) -> None:
    for seed in range(20):
        captures = draw_captures(frames, torch.Generator().manual_seed(seed))
        scales = [capture.scale for capture in captures]
        assert captures[frames // 2] == FrameCapture() and all(a > b for a, b in pairwise(scales))
        assert BREATHING[0] <= scales[0] - scales[-1] <= BREATHING[1]
        assert all(np.hypot(*c.shift_xy) < MAX_DRIFT_PX and abs(c.gain - 1) <= MAX_FLICKER for c in captures)


def test_camera_frames_undo_to_the_ideal_ones_and_the_truth_is_untouched(
    hard_camera: Path, settings_file: Path, tmp_path: Path
) -> None:
    ideal = tmp_path / "ideal"
    assert invoke(*simulate_args(ideal, settings_file, "--scenes", "hard", "-q", "--workers", "1", count=4))[0] == 0
    frame_files = {f["image"] for row in rows_of(hard_camera) if row["kind"] == "stack" for f in row["frames"]}
    ours, theirs = tree(hard_camera), tree(ideal)
    differing = {name for name in ours if ours[name] != theirs[name]}
    assert differing - frame_files <= {"dataset.json", "manifest.jsonl"} | {n for n in ours if n.endswith("scene.json")}
    assert len(differing & frame_files) == 4  # the middle frame of each group is the ideal one
    for row in (row for row in rows_of(hard_camera) if row["kind"] == "stack"):
        for frame in row["frames"]:
            captured, wanted = (read_image(folder / frame["image"]).linear for folder in (hard_camera, ideal))
            scale, (shift_x, shift_y), gain = frame["capture_scale"], frame["capture_shift_xy"], frame["capture_gain"]
            undone = similarity_warp(captured / gain, 1 / scale, (-shift_x / scale, -shift_y / scale))
            # Compared away from the border, lights clipped by the PNG and the detail two resamplings lose.
            clipped = F.max_pool2d(torch.maximum(captured, wanted).amax(1, keepdim=True).ge(0.99).float(), 9, 1, 4)
            keep = (clipped == 0)[..., 6:-6, 6:-6].expand(1, 3, -1, -1)

            def error(image: torch.Tensor, keep: torch.Tensor = keep, wanted: torch.Tensor = wanted) -> float:
                smooth = gaussian_blur(image, 1.0) - gaussian_blur(wanted, 1.0)
                return float(smooth[..., 6:-6, 6:-6][keep].abs().mean())

            assert error(undone) < 0.004 and error(undone) <= 0.3 * error(captured) + 1e-6


def test_zero_blur_targets_are_the_all_in_focus_image(tmp_path: Path) -> None:
    settings = tmp_path / "sharp.toml"
    settings.write_text(SMALL.replace('k = {distribution = "uniform", low = 1.0, high = 6.0}', "k = 0.0"))
    out = tmp_path / "sharp"
    assert invoke(*simulate_args(out, settings, "--count", "2", "--quiet"))[0] == 0
    for row in rows_of(out):
        if row["kind"] == "pair":
            assert (pixels(out / row["target"]["image"]) == pixels(out / row["all_in_focus"])).all()


def test_physical_blur_settings_are_recorded_and_bounded(tmp_path: Path) -> None:
    settings = tmp_path / "physical.toml"
    settings.write_text(SMALL.replace("[blur]\n", '[blur]\nmode = "physical"\nmax_k = 6.0\n'))
    out = tmp_path / "physical"
    code, _, err = invoke(*simulate_args(out, settings, "--count", "2", "--quiet"))
    assert code == 0, err
    loaded = SimulationSettings().blur
    for row in rows_of(out):
        renders = [row["target"]] if row["kind"] == "pair" else row["frames"]
        for render in renders:
            camera = render["camera"]
            assert render["blur_k_px"] <= 6.0 + 1e-9
            assert loaded.focal_length_mm.contains(camera["focal_length_mm"])
            assert loaded.sensor_width_mm.contains(camera["sensor_width_mm"])
            sampled = render["stopped_down_from"] or camera["f_number"]
            assert loaded.fnumber.contains(sampled) and camera["f_number"] >= sampled
            # The thin lens's K for this camera at the scene's depth range (near 0.5 m, far 50 m), 48 px wide.
            from refocus_cli.lens import CameraSettings

            k = CameraSettings(**camera).blur_k_per_inverse_m(48) * (1 / 0.5 - 1 / 50.0)
            assert render["blur_k_px"] == pytest.approx(k, rel=1e-9)


# ----------------------------------------------------------------------------------- determinism and resume


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(
    dataset: Path, settings_file: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    assert invoke(*simulate_args(again, settings_file, "--workers", "2", "--quiet"))[0] == 0
    assert tree(again) == tree(dataset)  # worker processes, same bytes as rendering here
    other = tmp_path / "other"
    assert invoke(*simulate_args(other, settings_file, "--quiet", seed=4))[0] == 0
    differing = {name for name, digest in tree(other).items() if tree(dataset).get(name) != digest}
    assert any(name.endswith("target.png") for name in differing)


def test_a_killed_run_resumes_to_the_same_end(dataset: Path, settings_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "refocus_cli.cli", *simulate_args(out, settings_file, "--workers", "1", "-q")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((out / "scenes").glob("*/scene.json")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = list((out / "scenes").glob("*/scene.json"))
    assert 1 <= len(finished) < 3, "the run should have been stopped midway"
    for folder in (out / "scenes").iterdir():  # whole scenes or hidden temporary folders, nothing half there
        assert folder.name.startswith(".") or (folder / "scene.json").is_file()
    code, _, err = invoke(*simulate_args(out, settings_file, "--resume", "--json"))
    assert code == 0, err
    assert tree(out) == tree(dataset)


def test_resume_refuses_a_dataset_made_with_other_options(dataset: Path, settings_file: Path) -> None:
    code, _, err = invoke(*simulate_args(dataset, settings_file, "--resume", seed=9))
    assert code == 1 and "another seed" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke(*simulate_args(dataset, settings_file))
    assert code == 1 and "--resume" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ Ray


def test_ray_cluster_makes_the_same_bytes_as_the_local_path(
    dataset: Path, settings_file: Path, tmp_path: Path, ray_cluster: str
) -> None:
    out = tmp_path / "ray"
    command = [
        sys.executable,
        "-m",
        "refocus_cli.cli",
        *simulate_args(out, settings_file, "--ray", ray_cluster, "--json"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["runner"] == f"ray:{ray_cluster}"
    assert tree(out) == tree(dataset)


# ------------------------------------------------------------------------------------------ photo sources


def test_photo_folder_with_and_without_depth_and_a_bad_file(tmp_path: Path, settings_file: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(folder / "a.png")
    depth = np.zeros((60, 80), np.uint16)
    depth[:, :40] = 65535
    Image.fromarray(depth).save(folder / "a-depth.png")
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(folder / "b.jpg")
    (folder / "c.png").write_bytes(b"not a png")
    assert [(p.name, d.name if d else None) for p, d in find_photos(folder)] == [
        ("a.png", "a-depth.png"), ("b.jpg", None), ("c.png", None)]  # fmt: skip
    out = tmp_path / "from-photos"
    code, _, err = invoke("simulate", "--source", str(folder), "--out", str(out), "--count", "6",
                               "--config", str(settings_file), "--json")  # fmt: skip
    assert code == 1
    assert err.strip().splitlines() == [
        f"refocus: error: {folder / 'c.png'}: not an image file (or a corrupt one)"
    ] or (len(err.strip().splitlines()) == 1 and "c.png" in err)
    rows = rows_of(out)
    assert {row["scene"] for row in rows} == {"a", "b"}
    a_row = next(row for row in rows if row["scene"] == "a")
    assert a_row["renderer"] == "layered" and a_row["source"]["depth"] == f"file:{folder / 'a-depth.png'}"
    b_row = next(row for row in rows if row["scene"] == "b")
    assert b_row["source"]["depth"].startswith("approximate:") and b_row["notes"]
    # a's depth file is used: its stack's nearest frame is sharp on the near (left) half, the farthest on the right.
    stack = next(row for row in rows if row["scene"] == "a" and row["kind"] == "stack")
    near, far = (pixels(out / stack["frames"][i]["image"]).astype(np.float64) for i in (0, -1))

    def detail(image: np.ndarray) -> float:
        return float(np.abs(np.diff(image, axis=1)).mean())

    assert detail(near[:, 4:20]) > 1.5 * detail(near[:, 28:44])
    assert detail(far[:, 28:44]) > 1.5 * detail(far[:, 4:20])


# ---------------------------------------------------------------------------------------- settings and plans


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scene]\nsize = [8, 8]\n", "scene.size must be at least 16"),
        ('[blur]\nk = {distribution = "gauss"}\n', "blur.k.distribution must be one of"),
        ('[blur]\nk = {distribution = "uniform", low = 5, high = 1}\n', "low (5) is above high (1)"),
        ("[split]\ntrain = 0.5\n", "add up to 1"),
        ("[lens]\n", "unknown table [lens]"),
        ("[stack]\nframe = 3\n", "unknown key stack.frame"),
        ('[aperture]\nshape = "star"\n', "disc or polygon"),
        ('[blur]\nmode = "thin"\n', "blur.mode must be k or physical"),
        ('[scene]\nkind = "harder"\n', "scene.kind must be layered or hard, got 'harder'"),
        ('[scene]\nkind = "hard"\nmin_layers = 1\n', "scene.min_layers must be 2 or more for hard scenes"),
        ('[stack]\ncapture = "real"\n', "stack.capture must be ideal or camera, got 'real'"),
        ("not toml", "invalid TOML"),
    ],
)
def test_bad_settings_give_one_line_naming_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, _, err = invoke("simulate", "--source", "procedural", "--out", str(tmp_path / "x"), "--count", "1",
                          "--config", str(path))  # fmt: skip
    assert code == 1 and message in err and str(path) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "no-such-folder", "--count", "2"], "no such folder"),
        (["--source", "procedural", "--count", "0"], "--count must be 1 or more"),
        (["--source", "procedural", "--count", "2", "--workers", "0"], "--workers must be 1 or more"),
    ],
)
def test_bad_options_give_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = invoke("simulate", "--out", str(tmp_path / "x"), *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_hard_scenes_with_one_layer_are_refused_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text("[scene]\nmin_layers = 1\n")
    out = tmp_path / "x"
    code, _, err = invoke("simulate", "--source", "procedural", "--out", str(out), "--count", "1",
                          "--config", str(path), "--scenes", "hard")  # fmt: skip
    assert code == 1 and "min_layers must be 2 or more" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = invoke("simulate", "--source", "procedural", "--out", str(out), "--count", "1", "--stacks", "real")
    assert code == 2 and "--stacks" in err and "ideal" in err and not out.exists()  # Typer's usage error, as --device


def test_a_dataset_made_before_the_scene_kind_and_capture_settings_resumes(
    dataset: Path, settings_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "old"
    shutil.copytree(dataset, out)
    record = json.loads((out / "dataset.json").read_text())
    del record["settings"]["scene"]["kind"], record["settings"]["stack"]["capture"]
    (out / "dataset.json").write_text(json.dumps(record, indent=2) + "\n")
    code, _, err = invoke(*simulate_args(out, settings_file, "--resume", "-q"))
    assert code == 0, err
    assert tree(out) == tree(dataset)


def test_settings_round_trip_through_their_record() -> None:
    settings = SimulationSettings()
    assert settings_from_record(json.loads(json.dumps(settings.to_record())), where="x") == settings


def test_split_plan_is_by_scene_deterministic_and_proportional() -> None:
    settings = SimulationSettings()
    assert split_counts(20, settings.split) == {"train": 16, "validation": 2, "test": 2}
    assert assign_splits(20, 1, settings.split) == assign_splits(20, 1, settings.split)
    assert assign_splits(20, 1, settings.split) != assign_splits(20, 2, settings.split)
    plan = plan_scenes("procedural", 10, 0, 4, settings.split)
    assert [spec.pairs for spec in plan] == [4, 3, 3] and len({spec.seed for spec in plan}) == 3


def test_count_is_pairs_and_an_empty_split_is_a_note(tmp_path: Path, settings_file: Path) -> None:
    """--count 4 with 2 pairs a scene is 2 scenes, both in train: the line and the record say so."""
    code, _, err = invoke(*simulate_args(tmp_path / "few", settings_file, "--workers", "1", count=4))
    assert code == 0, err
    assert "4 pairs and 2 stacking groups from 2 scenes (2 pairs a scene; scenes by split: train 2" in err
    assert "refocus: note: validation and test got no scene" in err and "--count 14 (7 scenes of 2 pairs)" in err
    code, out, err = invoke(*simulate_args(tmp_path / "few-json", settings_file, "--workers", "1", "--json", count=4))
    record = json.loads(out)
    assert code == 0 and record["pairs_per_scene"] == 2 and record["scenes"] == 2
    assert record["notes"] and record["notes"][0].startswith("validation and test got no scene")


def test_every_split_gets_a_scene_from_the_count_the_note_gives() -> None:
    shares = SimulationSettings().split
    enough = scenes_for_every_split(shares)
    assert min(split_counts(enough, shares).values()) == 1 and min(split_counts(enough - 1, shares).values()) == 0
    assert empty_split_note(split_counts(enough, shares), shares, 4) is None
    assert "test got no scene" in (empty_split_note({"train": 9, "validation": 1, "test": 0}, shares, 4) or "")


def test_the_readme_shows_the_default_settings_as_valid_toml() -> None:
    tomllib = pytest.importorskip("tomllib")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Training data: `refocus simulate`", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    assert settings_from_record(tomllib.loads(block), where="README") == SimulationSettings()


def test_ray_missing_is_one_line_and_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    out = tmp_path / "x"
    code, _, err = invoke("simulate", "--source", "procedural", "--out", str(out), "--count", "1", "--ray", "auto")
    assert code == 1 and "pip install 'refocus-cli[ray]'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_ray_cluster_makes_hard_camera_datasets_as_the_local_path(
    hard_camera: Path, settings_file: Path, tmp_path: Path, ray_cluster: str
) -> None:
    out = tmp_path / "ray-hard"
    args = simulate_args(out, settings_file, "--scenes", "hard", "--stacks", "camera", "--ray", ray_cluster, count=4)
    done = subprocess.run([sys.executable, "-m", "refocus_cli.cli", *args, "-q"], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert tree(out) == tree(hard_camera)
