"""The learned engine: a tiny model trains on a tiny simulated dataset and its loss falls; a stopped run
resumes to the same weights; save/load gives identical output; the stacking loss is zero exactly for a
perfect prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.learned.losses import stacking_loss
from refocus_cli.learned.model import RefocusModel
from refocus_cli.learned.pipeline import RefocusPipeline
from refocus_cli.learned.train import TrainRequest, load_pipeline, train
from refocus_cli.render.stacking import blend_stack, in_focus_masks

TINY = {"block_out_channels": [8, 16], "norm_num_groups": 4}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("learned")
    settings = folder / "tiny.toml"
    settings.write_text("[scene]\nsize = [40, 40]\n[stack]\nframes = 3\n[render]\nmax_aperture_samples = 32\n")
    out = folder / "data"
    args = ["simulate", "--source", "procedural", "--out", str(out), "--count", "20", "--config", str(settings)]
    result = CliRunner().invoke(app, [*args, "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.stderr
    return out


def tiny_request(dataset: Path, out: Path, epochs: int, **changes: object) -> TrainRequest:
    values: dict[str, object] = {"epochs": epochs, "batch_size": 4, "crop_px": 32, "learning_rate": 2e-3}
    values.update({"model_config": TINY, **changes})
    return TrainRequest(data=(dataset,), out=out, **values)  # type: ignore[arg-type]


def test_stacking_loss_is_zero_for_the_true_frames_and_positive_otherwise() -> None:
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, 3, 16, 16, generator=generator)
    disparity = torch.rand(2, 1, 16, 16, generator=generator)
    masks = in_focus_masks(disparity, torch.tensor([0.8, 0.5, 0.2]))
    composite = blend_stack(frames, masks)
    assert float(stacking_loss(frames, masks, composite)) == 0.0
    wrong = frames.clone()
    wrong[:, 1] += 0.1
    assert float(stacking_loss(wrong, masks, composite)) > 0.0


def test_a_tiny_model_trains_and_its_loss_falls(dataset: Path, tmp_path: Path) -> None:
    """From scratch (no physics prior) the loss falls by a fifth in 20 epochs."""
    config = {**TINY, "physics_prior": False}
    result = train(tiny_request(dataset, tmp_path / "run", epochs=20, model_config=config))
    losses = [record["loss"] for record in result.history]
    assert len(losses) == 20 and losses[-1] < 0.8 * losses[0], losses
    assert all(record["validation_psnr"] is not None for record in result.history)
    assert result.history[-1]["stacking"] > 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log == result.history


def test_an_untrained_model_is_the_physics_engine_and_training_improves_on_it(dataset: Path, tmp_path: Path) -> None:
    """The residual starts at zero: the untrained pipeline returns the physics engine's render exactly (sRGB
    round trip aside); trained, its loss on the pairs falls below the first epoch's."""
    from refocus_cli.lens import signed_coc_px
    from refocus_cli.render.layered import render_layered

    torch.manual_seed(0)
    pipeline = RefocusPipeline(RefocusModel(**TINY), RefocusPipeline.default_scheduler())
    image, disparity = torch.rand(1, 3, 30, 44), torch.rand(1, 1, 30, 44)
    out = pipeline(image, disparity, 0.4, 12.0, tile_px=16, halo_px=8).images
    physics = render_layered(image, signed_coc_px(disparity, 0.4, 12.0)).clamp(0, 1)
    assert (out - physics).abs().max() < 1e-5
    result = train(tiny_request(dataset, tmp_path / "run", epochs=4))
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < losses[0], losses


def test_a_stopped_run_resumes_to_the_same_weights(dataset: Path, tmp_path: Path) -> None:
    straight = train(tiny_request(dataset, tmp_path / "straight", epochs=3, few_step_share=0.5))
    train(tiny_request(dataset, tmp_path / "stopped", epochs=1, few_step_share=0.5))
    resumed = train(tiny_request(dataset, tmp_path / "stopped", epochs=3, few_step_share=0.5, resume=True))
    assert resumed.history == straight.history
    a = load_pipeline(tmp_path / "straight" / "pipeline").model.state_dict()
    b = load_pipeline(tmp_path / "stopped" / "pipeline").model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_save_and_load_give_identical_output(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = RefocusPipeline(RefocusModel(**TINY), RefocusPipeline.default_scheduler())
    image, disparity = torch.rand(1, 3, 30, 44), torch.rand(1, 1, 30, 44)
    before = pipeline(image, disparity, 0.4, 12.0).images
    pipeline.save_pretrained(tmp_path / "saved")
    after = load_pipeline(tmp_path / "saved")(image, disparity, 0.4, 12.0).images
    assert before.shape == (1, 3, 30, 44) and torch.equal(before, after)
    few = load_pipeline(tmp_path / "saved")(image, disparity, 0.4, 12.0, num_inference_steps=3,
                                             generator=torch.Generator().manual_seed(1)).images  # fmt: skip
    assert few.shape == before.shape and bool((few >= 0).all())


# ---------------------------------------------------------------------------------- --engine learned in the CLI


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random pipeline saved in diffusers' layout."""
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("model") / "pipeline"
    RefocusPipeline(RefocusModel(**TINY), RefocusPipeline.default_scheduler()).save_pretrained(folder)
    return folder


def test_image_engine_learned_writes_the_pipelines_output(
    saved_model: Path, photo_with_depth: tuple[Path, Path], tmp_path: Path
) -> None:
    from refocus_cli.io.depth_files import read_depth_file
    from refocus_cli.io.images import encode_srgb, read_image

    photo, depth = photo_with_depth
    out = tmp_path / "learned.png"
    result = CliRunner().invoke(
        app, ["image", str(photo), "--depth", str(depth), "--focus", "10,10", "--blur", "6", "--engine", "learned",
              "--model", str(saved_model), "-o", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["engine"] == "learned"
    loaded = read_image(photo)
    disparity = read_depth_file(depth, size_hw=(loaded.height, loaded.width)).disparity
    expected = load_pipeline(saved_model)(loaded.linear, disparity, record["focus_disparity"], 6.0).images
    written = read_image(out).linear
    codes = encode_srgb(written, 8).astype(int) - encode_srgb(expected, 8).astype(int)
    assert abs(codes).max() <= 1


def test_image_engine_learned_without_a_checkpoint_is_one_line(
    photo_with_depth: tuple[Path, Path], tmp_path: Path
) -> None:
    photo, depth = photo_with_depth
    result = CliRunner().invoke(
        app, ["image", str(photo), "--depth", str(depth), "--engine", "learned", "--model", str(tmp_path / "none"),
              "-o", str(tmp_path / "x.png")],
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds no saved pipeline" in lines[0] and "refocus train" in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_bokeh_video_engine_learned_with_an_untrained_model_is_the_physics_engine(tmp_path: Path) -> None:
    """A model whose residual is zero returns its physics prior: the learned path's video (windows, restore,
    highlights and all) equals the physics engine's."""
    from test_video_cli import frames_of, make_clip

    torch.manual_seed(0)
    RefocusPipeline(RefocusModel(**TINY), RefocusPipeline.default_scheduler()).save_pretrained(tmp_path / "zero")
    clip, depth = tmp_path / "clip.mp4", tmp_path / "depth.mp4"
    make_clip(clip, depth, count=6)
    learned, physics = tmp_path / "learned.mp4", tmp_path / "physics.mp4"
    args = ["bokeh-video", str(clip), "--depth-video", str(depth), "--focus", "30,30", "--blur", "10", "-q"]
    result = CliRunner().invoke(
        app, [*args, "--engine", "learned", "--model", str(tmp_path / "zero"), "-o", str(learned)]
    )
    assert result.exit_code == 0, result.stderr
    assert CliRunner().invoke(app, [*args, "-o", str(physics)]).exit_code == 0
    reference, written = frames_of(physics), frames_of(learned)  # the same frames, encoded the same way
    assert len(written) == len(reference) == 6
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(reference, written, strict=True)) <= 2
    unblurred = tmp_path / "unblurred.mp4"
    assert CliRunner().invoke(app, [*args[:-3], "--blur", "0", "-q", "-o", str(unblurred)]).exit_code == 0
    assert (
        max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(frames_of(unblurred), written, strict=True))
        > 10
    )
